//! The reader every section uses: berth-settings' [`Reader`] and
//! [`Section`], under the short names the decoders here use.

pub(crate) use berth_settings::{
    Origins, Reader as Ctx, Section as Obj, describe, index, join, key_text,
};
