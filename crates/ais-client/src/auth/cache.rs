//! The token cache: one token per cluster, refreshed before it expires, kept while a refresh
//! fails and it is still valid.

use super::*;

#[derive(Clone)]
pub(super) struct Cached {
    pub(super) token: Token,
    pub(super) fetched_at: SystemTime,
}

impl Cached {
    /// Due for a refresh at `now`: it expires within `margin`, the margin capped at half the
    /// token's lifetime (a 5-minute token with the default 5-minute margin is reused for 2.5
    /// minutes instead of being fetched again for every call).
    pub(super) fn refresh_due(&self, margin: Duration, now: SystemTime) -> bool {
        let Some(exp) = self.token.expires_at else {
            return false;
        };
        let lifetime = exp.duration_since(self.fetched_at).unwrap_or_default();
        self.token.expires_within(margin.min(lifetime / 2), now)
    }
}

struct CacheState {
    source: TokenSource,
    current: Option<Cached>,
}

/// The current token of one cluster. Thread-safe; concurrent [`Self::get`] calls share one
/// fetch (the lock is held while fetching, bounded by [`AuthOptions::timeout`]).
pub struct TokenCache {
    opts: AuthOptions,
    state: tokio::sync::Mutex<CacheState>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TokenCache");
        d.field("options", &self.opts);
        if let Ok(st) = self.state.try_lock() {
            d.field("source", &st.source)
                .field("token", &st.current.as_ref().map(|c| &c.token));
        }
        d.finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache; the first [`Self::get`] fetches.
    pub fn new(source: TokenSource, opts: AuthOptions) -> Self {
        Self {
            opts,
            state: tokio::sync::Mutex::new(CacheState {
                source,
                current: None,
            }),
        }
    }

    /// The options.
    pub fn options(&self) -> &AuthOptions {
        &self.opts
    }

    /// The cached token unless it expires within the refresh margin; otherwise a new one from
    /// the current source (which then replaces the cached one). When that fetch fails but
    /// the cached token has not expired yet, the cached token is returned (with a warning) and
    /// the next call tries again: an auth service outage does not stop the operator before
    /// its token actually expires.
    pub async fn get(&self) -> Result<Token, AuthError> {
        let mut st = self.state.lock().await;
        if let Some(t) = self.usable(&st) {
            return Ok(t);
        }
        match self.refresh(&mut st).await {
            Ok(t) => Ok(t),
            Err(e) => keep_unexpired(&st, e),
        }
    }

    /// As [`Self::get`], but when a fetch is due the source is first replaced by
    /// `fresh_source()`. For sources that must be rebuilt for each fetch: a token exchange
    /// whose subject token is short-lived (a minted ServiceAccount token), or credentials
    /// that may have been rotated in their Secret. `fresh_source` is not called while the
    /// cached token is usable. A failure of `fresh_source` or of the fetch falls back to the
    /// unexpired cached token as in [`Self::get`].
    pub async fn get_with<F, Fut, E>(&self, fresh_source: F) -> Result<Token, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenSource, E>>,
        E: From<AuthError> + fmt::Display,
    {
        let mut st = self.state.lock().await;
        if let Some(t) = self.usable(&st) {
            return Ok(t);
        }
        let fetched = match fresh_source().await {
            Ok(source) => {
                st.source = source;
                self.refresh(&mut st).await.map_err(E::from)
            }
            Err(e) => Err(e),
        };
        match fetched {
            Ok(t) => Ok(t),
            Err(e) => keep_unexpired(&st, e),
        }
    }

    /// Drop the cached token, so that the next [`Self::get`] fetches a new one (call it when
    /// AIS answers 401 or 403).
    pub async fn invalidate(&self) {
        self.state.lock().await.current = None;
    }

    /// Drop the cached token only if it is still `token` (the one AIS refused), so that a
    /// token another task has fetched meanwhile is kept. Returns whether it was dropped.
    pub async fn invalidate_token(&self, token: &Token) -> bool {
        let mut st = self.state.lock().await;
        let current = st.current.as_ref().is_some_and(|c| c.token == *token);
        if current {
            st.current = None;
        }
        current
    }

    /// Replace the source (e.g. after `spec.auth` changed); a cached token from a different
    /// source is dropped.
    pub async fn set_source(&self, source: TokenSource) {
        let mut st = self.state.lock().await;
        if st.source != source {
            st.source = source;
            st.current = None;
        }
    }

    /// The cached token, without fetching and whether or not it is due for a refresh.
    pub async fn cached(&self) -> Option<Token> {
        self.state
            .lock()
            .await
            .current
            .as_ref()
            .map(|c| c.token.clone())
    }

    fn usable(&self, st: &CacheState) -> Option<Token> {
        st.current
            .as_ref()
            .filter(|c| !c.refresh_due(self.opts.refresh_margin, SystemTime::now()))
            .map(|c| c.token.clone())
    }

    /// Fetch from the current source; the cached token is replaced only on success.
    async fn refresh(&self, st: &mut CacheState) -> Result<Token, AuthError> {
        let fetched_at = SystemTime::now();
        let token = fetch_token(&st.source, &self.opts).await?;
        tracing::info!(
            mode = %st.source.mode(),
            url = %st.source.request_url(),
            expires_in_s = token
                .expires_at
                .and_then(|e| e.duration_since(fetched_at).ok())
                .map(|d| d.as_secs()),
            "fetched an AIS token"
        );
        st.current = Some(Cached {
            token: token.clone(),
            fetched_at,
        });
        Ok(token)
    }
}

/// After a failed refresh: the cached token while it has not expired, else the error.
fn keep_unexpired<E: fmt::Display>(st: &CacheState, err: E) -> Result<Token, E> {
    let now = SystemTime::now();
    match st
        .current
        .as_ref()
        .filter(|c| !c.token.expires_within(Duration::ZERO, now))
    {
        Some(c) => {
            tracing::warn!(
                mode = %st.source.mode(),
                error = %err,
                "refreshing the AIS token failed; using the current one until it expires"
            );
            Ok(c.token.clone())
        }
        None => Err(err),
    }
}
