//! berth-notifications' integration tests, in one binary.
//!
//! Every test talks to a real HTTP receiver on loopback (actix-web, in a
//! thread of its own) and keeps its queues in a fresh temporary directory.
//!
//! - `format`: the JSON against Distribution's own test and documentation.
//! - `listener`: every registry operation on a real `berth_storage`
//!   registry, and the events that arrive for it.
//! - `delivery`: headers, filters, failing, slow and absent endpoints.
//! - `durability`: restarts, torn and corrupt records, the queue bound,
//!   and a publisher killed with SIGKILL.

mod common;
mod delivery;
mod durability;
mod format;
mod listener;
