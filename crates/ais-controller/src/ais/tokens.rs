//! The operator's AIS tokens, one cache per cluster: fetched on first use, refreshed before
//! they expire, dropped after AIS refuses one (401/403) or when `spec.auth` goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ais_client::auth::{AuthError, TokenCache};
use ais_crd::AIStore;

use super::auth::{AuthConfigError, OperatorIdentity, auth_options, token_source};

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `spec.auth` cannot be used as it is.
    #[error(transparent)]
    Config(#[from] AuthConfigError),
    /// The auth service refused or failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// `spec.auth` was removed while a token was being refreshed.
    #[error("spec.auth was removed")]
    Removed,
}

/// Token caches by cluster (`namespace/name`).
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    caches: Arc<Mutex<HashMap<String, Arc<TokenCache>>>>,
    identity: Arc<tokio::sync::Mutex<Option<OperatorIdentity>>>,
}

impl Tokens {
    /// The bearer token for the cluster's AIS API, or `None` when `spec.auth` is unset.
    pub async fn token(
        &self,
        key: &str,
        kube: &kube::Client,
        ais: &AIStore,
    ) -> Result<Option<String>, TokenError> {
        let Some(auth) = ais.spec.auth.as_ref() else {
            self.lock().remove(key);
            return Ok(None);
        };
        let me = self.identity(kube, ais).await?;
        let existing = self.lock().get(key).cloned();
        let cache = match existing {
            Some(cache) => cache,
            None => {
                let Some(source) = token_source(kube, ais, &me).await? else {
                    return Ok(None);
                };
                let cache = Arc::new(TokenCache::new(source, auth_options(auth)));
                self.lock().insert(key.to_string(), cache.clone());
                cache
            }
        };
        let token = cache
            .get_with(|| async {
                token_source(kube, ais, &me)
                    .await?
                    .ok_or(TokenError::Removed)
            })
            .await?;
        Ok(Some(token.value))
    }

    /// Drops the cached token of a cluster (AIS refused it).
    pub async fn invalidate(&self, key: &str) {
        let cache = self.lock().get(key).cloned();
        if let Some(cache) = cache {
            cache.invalidate().await;
        }
    }

    /// Forgets a cluster.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TokenCache>>> {
        self.caches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The operator's ServiceAccount, resolved once. Only a token exchange without
    /// `tokenPath` needs it; other modes go on when it cannot be resolved.
    async fn identity(
        &self,
        kube: &kube::Client,
        ais: &AIStore,
    ) -> Result<OperatorIdentity, TokenError> {
        let mut slot = self.identity.lock().await;
        if let Some(me) = slot.as_ref() {
            return Ok(me.clone());
        }
        match OperatorIdentity::resolve(kube).await {
            Ok(me) => {
                *slot = Some(me.clone());
                Ok(me)
            }
            Err(err) => {
                let mints = ais
                    .spec
                    .auth
                    .as_ref()
                    .and_then(|a| a.token_exchange.as_ref())
                    .is_some_and(|t| t.token_path.is_none());
                if mints {
                    return Err(err.into());
                }
                Ok(OperatorIdentity {
                    namespace: String::new(),
                    service_account: String::new(),
                })
            }
        }
    }
}
