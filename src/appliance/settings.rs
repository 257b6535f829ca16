//! Connection settings, kept the way HPE tool users already keep them: `ONEVIEWSDK_*` environment
//! variables or a python-hpOneView style `config.json`. The password never comes from arguments.
//!
//! The variables and keys are the SDK's (HewlettPackard/oneview-python a16c337,
//! hpeOneView/oneview_client.py `from_environment_variables` and `__init__`, connection.py):
//! `ONEVIEWSDK_PROXY` / `"proxy"` (`host:port`, an HTTP CONNECT proxy: `set_proxy` splits on the
//! colon, `get_connection` tunnels with `set_tunnel`), `ONEVIEWSDK_CONNECTION_TIMEOUT` /
//! `"timeout"` (seconds, the socket timeout of connecting and of each read) and
//! `ONEVIEWSDK_SESSIONID` / `credentials.sessionID` (an existing session used instead of a login;
//! user name and password may then be left out). Where we differ on purpose: TLS is verified
//! (the SDK trusts every certificate unless given `ssl_certificate`), a proxy may also be written
//! `http://host:port`, and a borrowed session is not logged out at the end.
use super::secret::Secret;
use crate::error::{Context, Error, Location, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where an appliance listens: scheme, host and port, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base: String,
}

impl Endpoint {
    /// `host`, `host:port`, `[v6]:port` or a URL; https unless `http://` is written.
    pub fn parse(text: &str) -> Result<Endpoint> {
        let text = text.trim();
        let usage = |message: String| Err(Error::Usage(message));
        if text.is_empty() {
            return usage("the address is empty".into());
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((s, rest))
                if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") =>
            {
                (s.to_ascii_lowercase(), rest)
            }
            Some((s, _)) => {
                return usage(format!(
                    "{text:?}: unsupported scheme {s:?} (use https:// or http://)"
                ));
            }
            None => ("https".to_string(), text),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty()
            || authority.contains(char::is_whitespace)
            || authority.contains('@')
        {
            return usage(format!("{text:?} is not a host, host:port or URL"));
        }
        let port = if authority.starts_with('[') {
            authority.split_once("]:").map(|(_, port)| port)
        } else {
            authority.rsplit_once(':').map(|(_, port)| port)
        };
        if let Some(port) = port
            && port.parse::<u16>().is_err()
        {
            return usage(format!("{text:?}: port {port:?} is not a number"));
        }
        Ok(Endpoint {
            base: format!("{scheme}://{authority}"),
        })
    }

    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }
}

impl Settings {
    /// The addresses a login would reach over plain http (allowed only with --insecure).
    pub fn cleartext(&self) -> Vec<&str> {
        let mut bases: Vec<&str> = [&self.oneview, &self.image_streamer]
            .into_iter()
            .filter(|e| !e.is_https())
            .map(|e| e.base.as_str())
            .collect();
        bases.dedup();
        bases
    }
}

/// How TLS certificates are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// The platform's trust store (`super::trust`).
    Verified,
    /// Only certificates signed by this PEM file (e.g. the appliance's self-signed one).
    CaCert(PathBuf),
    /// No verification (asked for with --insecure; a warning is printed).
    Insecure,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub oneview: Endpoint,
    pub image_streamer: Endpoint,
    pub user_name: String,
    pub password: Secret,
    pub auth_login_domain: String,
    /// `None`: use the appliance's `currentVersion`.
    pub api_version: Option<u32>,
    pub tls: TlsMode,
    /// An HTTP CONNECT proxy for every appliance request, as `http://host:port`.
    pub proxy: Option<String>,
    /// The SDK's one socket timeout: bounds connecting and each read unless a flag says otherwise.
    pub connection_timeout: Option<std::time::Duration>,
    /// An existing session (`auth` token) used instead of logging in; never logged out by us.
    pub session_id: Option<Secret>,
}

/// What the command line adds to the settings.
#[derive(Debug, Clone, Default)]
pub struct SettingsOverrides {
    pub config: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    pub insecure: bool,
}

/// Reads `--config` (if given) and the `ONEVIEWSDK_*` variables of `env`; variables win.
pub fn load(overrides: &SettingsOverrides, env: &HashMap<String, String>) -> Result<Settings> {
    let usage = Error::Usage;
    let given = given_values(overrides, env)?;
    let (oneview, image_streamer) = endpoints(given.ip, given.image_streamer_ip, overrides)?;
    // With a session to use, nobody logs in: user name and password are not needed.
    let borrowed = given.session_id.is_some();
    let user_name = match given.user_name {
        Some(name) => name,
        None if borrowed => String::new(),
        None => {
            return Err(usage(
                "no user name: set ONEVIEWSDK_USERNAME or credentials.userName in --config \
                 (or ONEVIEWSDK_SESSIONID to use an existing session)"
                    .into(),
            ));
        }
    };
    let password = match given.password {
        Some(password) => password,
        None if borrowed => Secret::new(String::new()),
        None => return Err(usage("no password: set ONEVIEWSDK_PASSWORD or credentials.password in --config (never on the command line)".into())),
    };
    let tls = tls_mode(overrides, given.ssl_certificate)?;
    Ok(Settings {
        oneview,
        image_streamer,
        user_name,
        password,
        auth_login_domain: given.auth_login_domain.unwrap_or_default(),
        api_version: given.api_version,
        tls,
        proxy: given.proxy,
        connection_timeout: given.timeout,
        session_id: given.session_id,
    })
}

/// `host:port` (the SDK's form) or `http://host:port` → `http://host:port`; `from` names the
/// setting in errors.
fn proxy_url(text: &str, from: &str) -> Result<String> {
    let text = text.trim();
    let authority = text
        .strip_prefix("http://")
        .unwrap_or(text)
        .trim_end_matches('/');
    let valid = authority.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
    });
    if !valid || authority.contains('@') {
        return Err(Error::Usage(format!(
            "{from}={text:?} is not a proxy address: write host:port (as the HPE SDK does) or \
             http://host:port"
        )));
    }
    Ok(format!("http://{authority}"))
}

/// The SDK's timeout: seconds, a whole or decimal number (`http.client`'s socket timeout).
fn timeout_seconds(text: &str, from: &str) -> Result<std::time::Duration> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{from}={text:?} is not a number of seconds above 0"
            ))
        })
}

/// The values of `--config` (if given), each replaced by its `ONEVIEWSDK_*` variable when set.
fn given_values(
    overrides: &SettingsOverrides,
    env: &HashMap<String, String>,
) -> Result<ConfigFile> {
    let mut given = match &overrides.config {
        Some(path) => ConfigFile::read(path)?,
        None => ConfigFile::default(),
    };
    let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
    given.ip = var("ONEVIEWSDK_IP").or(given.ip);
    given.image_streamer_ip = var("ONEVIEWSDK_IMAGE_STREAMER_IP").or(given.image_streamer_ip);
    given.user_name = var("ONEVIEWSDK_USERNAME").or(given.user_name);
    given.password = var("ONEVIEWSDK_PASSWORD")
        .map(Secret::new)
        .or(given.password);
    given.auth_login_domain = var("ONEVIEWSDK_AUTH_LOGIN_DOMAIN").or(given.auth_login_domain);
    if let Some(v) = var("ONEVIEWSDK_API_VERSION") {
        given.api_version =
            Some(v.trim().parse::<u32>().map_err(|_| {
                Error::Usage(format!("ONEVIEWSDK_API_VERSION={v:?} is not a number"))
            })?);
    }
    given.ssl_certificate = var("ONEVIEWSDK_SSL_CERTIFICATE")
        .map(PathBuf::from)
        .or(given.ssl_certificate);
    if let Some(v) = var("ONEVIEWSDK_PROXY") {
        given.proxy = Some(proxy_url(&v, "ONEVIEWSDK_PROXY")?);
    }
    if let Some(v) = var("ONEVIEWSDK_CONNECTION_TIMEOUT") {
        given.timeout = Some(timeout_seconds(&v, "ONEVIEWSDK_CONNECTION_TIMEOUT")?);
    }
    given.session_id = var("ONEVIEWSDK_SESSIONID")
        .map(Secret::new)
        .or(given.session_id);
    Ok(given)
}

/// The OneView and Image Streamer addresses; plain http only with --insecure.
fn endpoints(
    ip: Option<String>,
    streamer_ip: Option<String>,
    overrides: &SettingsOverrides,
) -> Result<(Endpoint, Endpoint)> {
    let usage = Error::Usage;
    let from = "set ONEVIEWSDK_IP or \"ip\" in --config";
    let oneview = Endpoint::parse(&ip.ok_or_else(|| usage(format!("no OneView address: {from}")))?)
        .context(|| "OneView address".into())?;
    let image_streamer = Endpoint::parse(&streamer_ip.ok_or_else(|| {
        usage("no Image Streamer address: set ONEVIEWSDK_IMAGE_STREAMER_IP or \"image_streamer_ip\" in --config \
         (it is not the OneView address; see Settings > Image Streamer in OneView)"
            .to_string())
    })?)
    .context(|| "Image Streamer address".into())?;
    // The login sends the password, and every request the session token: over http both cross
    // the network readable by anyone on the path. Only an explicit --insecure allows that.
    if !overrides.insecure
        && let Some((what, endpoint)) = [("OneView", &oneview), ("Image Streamer", &image_streamer)]
            .into_iter()
            .find(|(_, e)| !e.is_https())
    {
        return Err(usage(format!(
            "the {what} address {} is plain http: the password and session token would cross the \
             network unencrypted; use https:// (the default when no scheme is written), or pass \
             --insecure to accept that (labs and simulators only)",
            endpoint.base
        )));
    }
    Ok((oneview, image_streamer))
}

/// How to check the appliance's certificate: not at all (--insecure), against a CA file
/// (--ca-cert, else the configured one), or against this machine's trust store.
fn tls_mode(overrides: &SettingsOverrides, ca_cert: Option<PathBuf>) -> Result<TlsMode> {
    Ok(
        match (overrides.insecure, overrides.ca_cert.clone().or(ca_cert)) {
            (true, _) => TlsMode::Insecure,
            (false, Some(path)) => {
                if !path.is_file() {
                    return Err(Error::at(
                        Location::file(path),
                        "CA certificate file not found",
                    ));
                }
                TlsMode::CaCert(path)
            }
            (false, None) => TlsMode::Verified,
        },
    )
}

/// The python-hpOneView `config.json` keys we read.
#[derive(Debug, Default)]
struct ConfigFile {
    ip: Option<String>,
    image_streamer_ip: Option<String>,
    api_version: Option<u32>,
    ssl_certificate: Option<PathBuf>,
    user_name: Option<String>,
    password: Option<Secret>,
    auth_login_domain: Option<String>,
    proxy: Option<String>,
    timeout: Option<std::time::Duration>,
    session_id: Option<Secret>,
}

impl ConfigFile {
    fn read(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| {
            Error::at(
                Location::file(path).at(e.line(), e.column()),
                format!("not valid JSON: {e}"),
            )
        })?;
        let text_of = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let credentials = json.get("credentials");
        let password = text_of(credentials.and_then(|c| c.get("password"))).map(Secret::new);
        if password.is_some() {
            super::secret::refuse_if_shared(path, "a password")?;
        }
        let session_id = text_of(credentials.and_then(|c| c.get("sessionID"))).map(Secret::new);
        if session_id.is_some() {
            super::secret::refuse_if_shared(path, "a session id")?;
        }
        let at = |key: &str| format!("{}: \"{key}\"", path.display());
        let proxy = match text_of(json.get("proxy")) {
            Some(p) => Some(proxy_url(&p, &at("proxy"))?),
            None => None,
        };
        // The SDK passes "timeout" through as given: a number, or a string from its env form.
        let timeout = match json.get("timeout") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(timeout_seconds(s, &at("timeout"))?),
            Some(other) => Some(timeout_seconds(&other.to_string(), &at("timeout"))?),
        };
        let api_version = match json.get("api_version") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_u64().map(|n| n as u32),
            Some(Value::String(s)) => Some(s.parse().map_err(|_| {
                Error::at(
                    Location::file(path),
                    format!("api_version {s:?} is not a number"),
                )
            })?),
            Some(other) => {
                return Err(Error::at(
                    Location::file(path),
                    format!("api_version {other} is not a number"),
                ));
            }
        };
        let relative_to_config = |p: String| {
            let p = PathBuf::from(p);
            if p.is_relative() {
                path.parent().map(|d| d.join(&p)).unwrap_or(p)
            } else {
                p
            }
        };
        Ok(ConfigFile {
            ip: text_of(json.get("ip")),
            image_streamer_ip: text_of(json.get("image_streamer_ip")),
            api_version,
            ssl_certificate: text_of(json.get("ssl_certificate")).map(relative_to_config),
            user_name: text_of(credentials.and_then(|c| c.get("userName"))),
            password,
            auth_login_domain: text_of(credentials.and_then(|c| c.get("authLoginDomain"))),
            proxy,
            timeout,
            session_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            Endpoint::parse("10.0.0.1").unwrap().base,
            "https://10.0.0.1"
        );
        assert_eq!(
            Endpoint::parse("10.0.0.1:8443").unwrap().base,
            "https://10.0.0.1:8443"
        );
        assert_eq!(
            Endpoint::parse("http://ov.lab:8080/").unwrap().base,
            "http://ov.lab:8080"
        );
        assert_eq!(
            Endpoint::parse("HTTPS://ov.lab/rest").unwrap().base,
            "https://ov.lab"
        );
        assert_eq!(
            Endpoint::parse("[::1]:8443").unwrap().base,
            "https://[::1]:8443"
        );
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("host:port").is_err());
        assert!(Endpoint::parse("").is_err());
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_variables() {
        let s = load(
            &SettingsOverrides {
                insecure: true,
                ..Default::default()
            },
            &env(&[
                ("ONEVIEWSDK_IP", "ov"),
                ("ONEVIEWSDK_IMAGE_STREAMER_IP", "http://i3s:81"),
                ("ONEVIEWSDK_USERNAME", "admin"),
                ("ONEVIEWSDK_PASSWORD", "pw"),
                ("ONEVIEWSDK_API_VERSION", "800"),
            ]),
        )
        .unwrap();
        assert_eq!(s.oneview.base, "https://ov");
        assert_eq!(s.image_streamer.base, "http://i3s:81");
        assert_eq!(s.api_version, Some(800));
        assert_eq!(s.password.expose(), "pw");
        assert_eq!(s.tls, TlsMode::Insecure);
        assert_eq!(s.cleartext(), ["http://i3s:81"]);
    }

    #[test]
    fn a_cleartext_address_is_refused_without_insecure() {
        let vars = env(&[
            ("ONEVIEWSDK_IP", "http://ov.lab"),
            ("ONEVIEWSDK_IMAGE_STREAMER_IP", "i3s.lab"),
            ("ONEVIEWSDK_USERNAME", "admin"),
            ("ONEVIEWSDK_PASSWORD", "pw-never-shown"),
        ]);
        let e = load(&SettingsOverrides::default(), &vars)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OneView address http://ov.lab is plain http")
                && e.contains("--insecure")
                && !e.contains("pw-never-shown"),
            "{e}"
        );
        let insecure = SettingsOverrides {
            insecure: true,
            ..Default::default()
        };
        assert_eq!(
            load(&insecure, &vars).unwrap().cleartext(),
            ["http://ov.lab"]
        );
    }

    #[test]
    fn missing_streamer_address_is_explained() {
        let e = load(
            &SettingsOverrides::default(),
            &env(&[("ONEVIEWSDK_IP", "ov")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ONEVIEWSDK_IMAGE_STREAMER_IP"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn config_file_with_password_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"ip":"ov","image_streamer_ip":"i3s","api_version":1200,"credentials":{"userName":"a","password":"secret-pw","authLoginDomain":"LOCAL"}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let overrides = SettingsOverrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let e = load(&overrides, &HashMap::new()).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && !e.contains("secret-pw"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = load(&overrides, &HashMap::new()).unwrap();
        assert_eq!(
            (s.api_version, s.auth_login_domain.as_str()),
            (Some(1200), "LOCAL")
        );
        // Environment variables win over the file.
        let s = load(&overrides, &env(&[("ONEVIEWSDK_USERNAME", "b")])).unwrap();
        assert_eq!(s.user_name, "b");
    }
}
