//! HTTP headers as Distribution's configuration writes them.

pub use berth_settings::Headers;
