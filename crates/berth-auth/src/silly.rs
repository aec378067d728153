//! The `silly` access controller: any non-empty `Authorization` header is
//! granted, as user `silly`. For tests and demonstrations only; it checks
//! nothing.

use async_trait::async_trait;

use crate::challenge::{Challenge, flat_scope};
use crate::{Access, AccessController, AuthError, ConfigError, Grant, Request};

/// Options of `auth.silly`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SillyOptions {
    /// `auth.silly.realm`: the realm of the Bearer challenge. Required.
    pub realm: String,
    /// `auth.silly.service`: the service of the Bearer challenge. Required.
    pub service: String,
}

/// The `silly` access controller, as Distribution's `registry/auth/silly`.
#[derive(Debug)]
pub struct SillyAccessController {
    realm: String,
    service: String,
}

impl SillyAccessController {
    /// Builds the controller; `realm` and `service` must be set.
    pub fn new(options: SillyOptions) -> Result<Self, ConfigError> {
        if options.realm.is_empty() {
            return Err(ConfigError::Missing {
                option: "auth.silly.realm",
            });
        }
        if options.service.is_empty() {
            return Err(ConfigError::Missing {
                option: "auth.silly.service",
            });
        }
        Ok(SillyAccessController {
            realm: options.realm,
            service: options.service,
        })
    }
}

#[async_trait]
impl AccessController for SillyAccessController {
    /// Without an `Authorization` header (or with an empty one): a Bearer
    /// challenge with the realm, the service and, when accesses are
    /// requested, `scope="type:name:action …"` (one per access, in order,
    /// not merged), and no `error`. With any header: granted as `silly`.
    async fn authorize(
        &self,
        request: &Request<'_>,
        access: &[Access],
    ) -> Result<Grant, AuthError> {
        match request.authorization {
            Some(value) if !value.is_empty() => Ok(Grant::user("silly")),
            _ => Err(AuthError::Challenge(Challenge::bearer_with_scope(
                &self.realm,
                &self.service,
                &flat_scope(access),
                None,
                "authorization required",
            ))),
        }
    }
}
