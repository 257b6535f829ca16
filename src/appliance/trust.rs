//! Which certificates every HTTPS client of the tool trusts (the appliances and Consul): the
//! platform's trust store by default, so a CA an operator installed there (a corporate CA) is
//! trusted as it is by curl and the browser; or only the CA in a given PEM file.
//!
//! The platform store is reached through ureq's `RootCerts::PlatformVerifier` (its
//! `platform-verifier` feature, the `rustls-platform-verifier` crate maintained by the rustls
//! project): on Windows and macOS the OS verifier itself; on Linux and other Unixes the roots
//! `rustls-native-certs` loads — the distribution's bundle (e.g. /etc/ssl/certs), or only
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set, as OpenSSL does
//! (rustls-native-certs 0.8 `load_native_certs`; rustls-platform-verifier 0.7
//! src/verification/others.rs).
use crate::error::{Error, Location, Result};
use std::path::Path;
use ureq::config::ConfigBuilder;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::typestate::AgentScope;

/// The one place an HTTP agent is built (appliances, Consul, the diagnosis probe): `tls` as
/// given, statuses as answers (not errors), no redirects, our user agent; `bounds` adds the
/// caller's time limits.
pub fn agent(
    tls: TlsConfig,
    bounds: impl FnOnce(ConfigBuilder<AgentScope>) -> ConfigBuilder<AgentScope>,
) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(tls)
        .user_agent(concat!("i3s-bundle/", env!("CARGO_PKG_VERSION")));
    ureq::Agent::new_with_config(bounds(config).build())
}

/// No certificate check (--insecure, and the probe that only asks whether anything answers).
pub fn unverified() -> TlsConfig {
    TlsConfig::builder().disable_verification(true).build()
}

/// Verified TLS: the platform's trust store, or with `ca_cert` only the CA(s) in that PEM file.
/// Errors name the file.
pub fn verified(ca_cert: Option<&Path>) -> Result<TlsConfig> {
    let roots = match ca_cert {
        None => RootCerts::PlatformVerifier,
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(Error::at(
                    Location::file(path),
                    "no PEM certificate in the file",
                ));
            }
            RootCerts::new_with_certs(&certs)
        }
    };
    Ok(TlsConfig::builder().root_certs(roots).build())
}

/// The proxy every appliance request goes through (`http://host:port`, see `settings`): ureq
/// tunnels each connection with HTTP CONNECT, as the SDK's `set_tunnel` does.
pub fn proxy(url: &str) -> Result<ureq::Proxy> {
    ureq::Proxy::new(url).map_err(|e| Error::Usage(format!("proxy {url}: {e}")))
}
