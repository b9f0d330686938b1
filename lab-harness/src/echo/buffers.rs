//! The buffers a worker lends its connections.
//!
//! Every read lands in the worker's one read buffer, and an echo is written straight from it
//! when the socket takes it at once (the usual case). A connection needs a buffer of its own
//! only while a line is unfinished or a reply waits for the socket; it borrows one from the
//! worker's spares and gives it back as soon as it is empty. So an idle connection holds no
//! buffer (10,000 of them must fit in 10 MiB), yet a busy one does not pay for an allocation
//! and a free each time its output drains.

/// How many empty buffers a worker keeps for reuse ...
const SPARES: usize = 32;
/// ... and the largest it keeps: a bigger one (a long line, a reply the client was slow to
/// take) is freed, so the spares never hold more than 32 × 128 KiB = 4 MiB per worker.
const SPARE_CAPACITY: usize = 128 * 1024;

pub(crate) struct Buffers {
    /// Where every read lands; shared by all the worker's connections.
    pub(crate) read: Vec<u8>,
    pub(crate) spare: Spare,
}

impl Buffers {
    pub(crate) fn new(read_size: usize) -> Buffers {
        Buffers {
            read: vec![0; read_size],
            spare: Spare(Vec::new()),
        }
    }
}

/// Empty buffers waiting to be lent again.
pub(crate) struct Spare(Vec<Vec<u8>>);

impl Spare {
    /// An empty buffer, with room from an earlier use when one is kept.
    pub(crate) fn lend(&mut self) -> Vec<u8> {
        self.0.pop().unwrap_or_default()
    }

    /// Takes back a buffer its connection no longer needs (its bytes are dropped).
    pub(crate) fn give_back(&mut self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if capacity > 0 && capacity <= SPARE_CAPACITY && self.0.len() < SPARES {
            buffer.clear();
            self.0.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_lent_again_empty_with_its_room() {
        let mut spare = Buffers::new(16).spare;
        let mut buffer = spare.lend();
        buffer.extend_from_slice(&[7; 1000]);
        let room = buffer.capacity();
        spare.give_back(buffer);
        let again = spare.lend();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), room);
    }

    #[test]
    fn the_spares_are_bounded_in_number_and_size() {
        let mut spare = Buffers::new(16).spare;
        spare.give_back(Vec::with_capacity(SPARE_CAPACITY + 1));
        assert_eq!(spare.lend().capacity(), 0, "an oversized buffer is freed");
        for _ in 0..SPARES + 10 {
            spare.give_back(Vec::with_capacity(64));
        }
        assert_eq!(spare.0.len(), SPARES);
    }
}
