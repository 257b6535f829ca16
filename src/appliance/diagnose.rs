//! Why a request got no answer, said with what to do next: the address speaks the other scheme,
//! its certificate is not trusted or not for that name, nothing listens there. What a repeat
//! cannot cure is reported at once instead of after the retries.
use super::settings::TlsMode;
use std::time::Duration;

/// What a failed connection says about the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// A later attempt may pass (the service may be starting up): retried, the text shown with
    /// each retry.
    Transient(String),
    /// Fails the same way every time: reported at once, the text says what to change.
    Final(String),
}

/// Names the cause of `error` (a request to `url` that got no answer), when it is one we can
/// name; `None` leaves it to the generic report. May probe the other scheme (see `answers`).
pub fn diagnose(
    error: &ureq::Error,
    url: &str,
    tls: &TlsMode,
    probe_timeout: Duration,
) -> Option<Diagnosis> {
    let (scheme, authority) = split(url);
    if let ureq::Error::Io(io) = error
        && io.kind() == std::io::ErrorKind::ConnectionRefused
    {
        return Some(Diagnosis::Transient(format!(
            "nothing listens on {authority} (connection refused): is the appliance (or \
             `i3s-bundle simulate`) running there, on that port?"
        )));
    }
    if let ureq::Error::HostNotFound = error {
        return Some(Diagnosis::Transient(format!(
            "{} does not resolve to an address (name lookup failed): check the spelling, or write an IP address",
            host(authority)
        )));
    }
    if let Some(tls_error) = rustls_error(error) {
        return diagnose_tls(tls_error, scheme, authority, tls, probe_timeout);
    }
    // An answer that is not HTTP (a TLS server's alert record) to a plain-http request.
    if scheme == "http"
        && matches!(error, ureq::Error::Protocol(_))
        && answers(&format!("https://{authority}"), probe_timeout)
    {
        return Some(Diagnosis::Final(format!(
            "{authority} speaks HTTPS, not plain HTTP: write https://{authority} (or just \
             {authority}: https is the default)"
        )));
    }
    None
}

/// Names the cause of a TLS failure: an untrusted, misnamed or expired certificate, an empty
/// trust store, or an address that speaks plain HTTP.
fn diagnose_tls(
    tls_error: &rustls::Error,
    scheme: &str,
    authority: &str,
    tls: &TlsMode,
    probe_timeout: Duration,
) -> Option<Diagnosis> {
    use rustls::{CertificateError as C, Error as E};
    match tls_error {
        E::InvalidCertificate(C::UnknownIssuer) => Some(Diagnosis::Final(untrusted(
            authority,
            tls,
            "unknown issuer",
        ))),
        // A CA of the issuer's name that did not sign it: another simulator's, an older one.
        E::InvalidCertificate(C::BadSignature) => Some(Diagnosis::Final(untrusted(
            authority,
            tls,
            "signed by another CA of the same name",
        ))),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            Some(Diagnosis::Final(format!(
                "the certificate of {authority} is not issued for {} ({tls_error}): write the \
                 address by a name the certificate is issued for",
                host(authority)
            )))
        }
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => Some(Diagnosis::Final(format!(
            "the certificate of {authority} is outside its validity period ({tls_error}): \
             renew it on the appliance, or check this machine's clock"
        ))),
        E::InvalidCertificate(_) => Some(Diagnosis::Final(format!(
            "the certificate of {authority} is refused ({tls_error}): give the appliance a \
             valid certificate, or pass --ca-cert FILE with the CA that signed it"
        ))),
        // rustls-platform-verifier's words when the platform store holds no CA at all
        // (src/verification/others.rs): a minimal container without ca-certificates.
        E::General(message) if message.contains("No CA certificates") => {
            Some(Diagnosis::Final(format!(
                "the certificate of {authority} cannot be checked: this machine's trust store \
                 holds no CA certificate ({message}): install the ca-certificates package, \
                 set SSL_CERT_FILE to a PEM bundle, or pass --ca-cert FILE"
            )))
        }
        // The first bytes back are no TLS record: "HTTP/1.1 400 …" from a plain-HTTP server.
        E::InvalidMessage(_) | E::PeerSentOversizedRecord if scheme == "https" => Some(
            Diagnosis::Final(if answers(&format!("http://{authority}"), probe_timeout) {
                plain_http(authority, tls)
            } else {
                format!(
                    "{authority} does not speak TLS ({tls_error}) and does not answer plain \
                         HTTP either: is it the appliance's address and port?"
                )
            }),
        ),
        _ => None,
    }
}

/// `https://host:port/path` → (`https`, `host:port`).
fn split(url: &str) -> (&str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    (scheme, rest.split('/').next().unwrap_or(rest))
}

/// `host:port` → `host`; `[::1]:8443` → `::1`.
fn host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// rustls' error, which ureq hands on inside an `io::Error` (rustls' stream wraps its errors
/// with `io::ErrorKind::InvalidData`, rustls src/conn.rs) or, for some calls, directly.
fn rustls_error(error: &ureq::Error) -> Option<&rustls::Error> {
    match error {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

fn plain_http(authority: &str, tls: &TlsMode) -> String {
    let insecure = if *tls == TlsMode::Insecure {
        ""
    } else {
        // As settings::load words the refusal of a plain-http address.
        " and pass --insecure (a login over plain http is refused without it: the password would \
         cross the network unencrypted; labs and simulators only)"
    };
    format!("{authority} speaks plain HTTP, not HTTPS: write http://{authority}{insecure}")
}

/// Without --ca-cert the platform's trust store is used (`super::trust`): a CA installed there
/// (on Linux the distribution's bundle, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set) is trusted.
fn untrusted(authority: &str, tls: &TlsMode, why: &str) -> String {
    match tls {
        TlsMode::CaCert(path) => format!(
            "the certificate of {authority} is not signed by the CA in {} ({why}): pass \
             --ca-cert FILE with the CA certificate (PEM) that signed the appliance's certificate",
            path.display()
        ),
        _ => format!(
            "the appliance's certificate at {authority} is not trusted ({why}): pass \
             --ca-cert FILE, the CA certificate (PEM) that signed it (`i3s-bundle simulate --tls` \
             writes its own to --ca-cert-out), or install that CA in this machine's trust store \
             (on Linux SSL_CERT_FILE or SSL_CERT_DIR, when set, take its place)"
        ),
    }
}

/// Whether `base` answers a plain GET of `/rest/version` at all (any status). The probe carries
/// no credentials and no session, so neither cleartext nor an unchecked certificate exposes
/// anything.
fn answers(base: &str, timeout: Duration) -> bool {
    let agent = super::trust::agent(super::trust::unverified(), |config| {
        config.timeout_global(Some(timeout))
    });
    agent
        .get(format!("{base}{}", super::api::VERSION))
        .call()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_scheme_authority_and_host() {
        assert_eq!(
            split("https://10.0.0.1:8443/rest/version"),
            ("https", "10.0.0.1:8443")
        );
        assert_eq!(split("http://ov.lab"), ("http", "ov.lab"));
        assert_eq!(host("ov.lab:8443"), "ov.lab");
        assert_eq!(host("[::1]:8443"), "::1");
    }
}
