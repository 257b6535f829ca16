//! The REST client: one OneView login session used on both hosts (docs/appliance-api.md §1.3), JSON
//! requests, retries for requests that are safe to repeat, task polling, collections, streamed
//! transfers.
use super::diagnose::{Diagnosis, diagnose};
use super::error::{ApplianceError, ErrorBody};
use super::log::Log;
use super::secret::Secret;
use super::settings::{Settings, TlsMode};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use ureq::http::{Method, Request};

pub type Result<T, E = ApplianceError> = std::result::Result<T, E>;

/// Which appliance a path lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    OneView,
    ImageStreamer,
}

/// Timing knobs; tests shrink them, users rarely touch them.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Attempts for a request that is safe to repeat (GET, login), including the first.
    pub attempts: u32,
    /// First delay between attempts; doubles up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// First delay between task polls; grows by half up to `poll_max`.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// Overall limit for one task.
    pub task_timeout: Duration,
    /// Limit for opening a connection (TCP and TLS handshake).
    pub connect_timeout: Duration,
    /// Limit for the answer to start, and for each read of an answer's body (a download may
    /// take long, but no read waits longer than this).
    pub read_timeout: Duration,
    /// An upload the appliance stops taking data of is given up on once no byte moved for this
    /// long (however long the whole upload takes); other writes have the same bound.
    pub stall_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            attempts: 5,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(10),
            poll_initial: Duration::from_secs(1),
            poll_max: Duration::from_secs(10),
            task_timeout: Duration::from_secs(30 * 60),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// A raw answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Value,
}

pub struct Client {
    agent: ureq::Agent,
    oneview: String,
    image_streamer: String,
    pub api_version: u32,
    session: Option<Secret>,
    /// The session is the user's (ONEVIEWSDK_SESSIONID): used, never logged out.
    borrowed_session: bool,
    /// How certificates are checked: named in what a TLS failure tells the user to do.
    tls: TlsMode,
    pub timing: Timing,
    pub log: Log,
}

/// States in which a task is finished (docs/appliance-api.md §2.2); `Warning` counts as success.
const TASK_SUCCESS: [&str; 2] = ["Completed", "Warning"];
const TASK_FAILURE: [&str; 4] = ["Error", "Terminated", "Killed", "Interrupted"];

impl Client {
    /// Builds the HTTP agent (TLS as configured) without talking to anyone yet.
    pub fn new(settings: &Settings, timing: Timing, log: Log) -> crate::Result<Client> {
        let tls = match &settings.tls {
            TlsMode::Verified => super::trust::verified(None)?,
            TlsMode::CaCert(path) => super::trust::verified(Some(path))?,
            TlsMode::Insecure => super::trust::unverified(),
        };
        let proxy = settings
            .proxy
            .as_deref()
            .map(super::trust::proxy)
            .transpose()?;
        let agent = super::trust::agent(tls, |config| {
            // Every phase has a bound; none is an overall limit on a transfer's length, which
            // depends on its size: a multi-gigabyte upload or download runs as long as it moves.
            // No proxy setting: ureq's own default (HTTPS_PROXY, ALL_PROXY, NO_PROXY) stays.
            let config = match proxy {
                Some(proxy) => config.proxy(Some(proxy)),
                None => config,
            };
            config
                .timeout_connect(Some(timing.connect_timeout))
                .timeout_recv_response(Some(timing.read_timeout))
                .timeout_per_read(Some(timing.read_timeout))
                // A blocked send that times out after moving some bytes returns that partial
                // count, and only the next one fails (EAGAIN; socket(7), SO_SNDTIMEO): a stall
                // costs two write timeouts, so each is half the window.
                .timeout_per_write(Some(timing.stall_timeout / 2))
        });
        Ok(Client {
            agent,
            oneview: settings.oneview.base.clone(),
            image_streamer: settings.image_streamer.base.clone(),
            api_version: settings.api_version.unwrap_or(0),
            session: None,
            borrowed_session: false,
            tls: settings.tls.clone(),
            timing,
            log,
        })
    }

    /// Checks both appliances answer, settles the API version and logs in to OneView.
    pub fn connect(settings: &Settings, timing: Timing, log: Log) -> crate::Result<Client> {
        let mut client = Client::new(settings, timing, log)?;
        let version = client.get(Host::OneView, super::api::VERSION)?;
        let current = version
            .get("currentVersion")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32;
        let minimum = version
            .get("minimumVersion")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32;
        client.api_version = match settings.api_version {
            None => current,
            Some(wanted) if (current == 0 || wanted <= current) && wanted >= minimum => wanted,
            Some(wanted) => {
                return Err(ApplianceError::Protocol(format!(
                    "API version {wanted} is not supported by {} (minimum {minimum}, current {current}); set ONEVIEWSDK_API_VERSION",
                    client.oneview
                ))
                .into());
            }
        };
        client.get(Host::ImageStreamer, super::api::VERSION).map_err(|e| match e {
            ApplianceError::Connect { message, .. } => ApplianceError::Protocol(format!(
                "the Image Streamer at {} does not answer ({message}); check ONEVIEWSDK_IMAGE_STREAMER_IP",
                client.image_streamer
            )),
            ApplianceError::Unusable { url, problem } => ApplianceError::Unusable {
                url,
                problem: format!("the Image Streamer address (ONEVIEWSDK_IMAGE_STREAMER_IP): {problem}"),
            },
            other => other,
        })?;
        if let Some(session) = &settings.session_id {
            // The SDK's ONEVIEWSDK_SESSIONID: the user's session instead of a login, checked
            // (and kept alive) with a PUT as the SDK's `login` does (connection.py).
            client.session = Some(session.clone());
            client.borrowed_session = true;
            let put = Method::PUT;
            client
                .request(put, Host::OneView, super::api::LOGIN_SESSIONS, None, true)
                .map_err(|e| {
                    ApplianceError::Protocol(format!(
                        "the session of ONEVIEWSDK_SESSIONID (or credentials.sessionID) was not \
                         accepted ({e}): log in again for a new one, or unset it to log in with \
                         the user name and password"
                    ))
                })?;
            return Ok(client);
        }
        let body = json!({
            "userName": settings.user_name,
            "password": settings.password.expose(),
            "authLoginDomain": settings.auth_login_domain,
            "loginMsgAck": true,
        });
        // Logging in twice does no harm, so a failed login is retried like a GET.
        let answer = client.request(
            Method::POST,
            Host::OneView,
            super::api::LOGIN_SESSIONS,
            Some(&body),
            true,
        )?;
        let session = answer
            .body
            .get("sessionID")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let session = session
            .ok_or_else(|| ApplianceError::Protocol("login answered without a sessionID".into()))?;
        client.session = Some(Secret::new(session));
        Ok(client)
    }

    /// Ends the session; failures only warn (the session times out anyway).
    pub fn logout(&mut self) {
        if self.session.is_some() && !self.borrowed_session {
            if let Err(e) = self.request(
                Method::DELETE,
                Host::OneView,
                super::api::LOGIN_SESSIONS,
                None,
                false,
            ) {
                self.log.at(1, || format!("logout failed: {e}"));
            }
            self.session = None;
        }
    }

    pub fn url(&self, host: Host, path: &str) -> String {
        let base = match host {
            Host::OneView => &self.oneview,
            Host::ImageStreamer => &self.image_streamer,
        };
        format!("{base}{path}")
    }

    fn builder(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
    ) -> ureq::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", "application/json");
        if self.api_version > 0 {
            builder = builder.header("X-API-Version", self.api_version.to_string());
        }
        if let Some(session) = &self.session {
            builder = builder.header("auth", session.expose());
        }
        if let Some(content_type) = content_type {
            builder = builder.header("Content-Type", content_type);
        }
        builder
    }

    /// Delay before attempt `n` (1-based count of failures so far).
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.timing
            .retry_base
            .saturating_mul(factor)
            .min(self.timing.retry_max)
    }

    /// A ureq failure without an answer, its cause named when `diagnose` can: one a repeat
    /// cannot cure becomes `Unusable` (not retried), anything else a connection error or timeout.
    fn no_answer(&self, method: &str, url: &str, e: ureq::Error) -> ApplianceError {
        let probe_timeout = self.timing.connect_timeout.min(Duration::from_secs(5));
        match diagnose(&e, url, &self.tls, probe_timeout) {
            Some(Diagnosis::Final(problem)) => ApplianceError::Unusable {
                url: url.to_string(),
                problem,
            },
            Some(Diagnosis::Transient(message)) => ApplianceError::Connect {
                method: method.to_string(),
                url: url.to_string(),
                message,
            },
            None => transport_error(&self.timing, method, url, e),
        }
    }

    /// Says, as it happens, that attempt `failures` of `attempts` failed and when the next
    /// one starts: a wait the user can see is not a hang.
    fn announce_retry(
        &self,
        what: &str,
        failures: u32,
        attempts: u32,
        reason: &str,
        delay: Duration,
    ) {
        self.log.warn(&format!(
            "{what}: attempt {failures} of {attempts} failed: {reason}; trying again in {}",
            humantime::format_duration(delay)
        ));
    }

    /// Sends one JSON (or empty) request. `safe`: repeat it on connection errors and 5xx.
    pub fn request(
        &self,
        method: Method,
        host: Host,
        path: &str,
        body: Option<&Value>,
        safe: bool,
    ) -> Result<Answer> {
        let bytes = body
            .map(|b| serde_json::to_vec(b).expect("JSON serialises"))
            .unwrap_or_default();
        let content_type = body.map(|_| "application/json");
        self.request_raw(method, host, path, &bytes, content_type, &[], safe)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn request_raw(
        &self,
        method: Method,
        host: Host,
        path: &str,
        bytes: &[u8],
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        safe: bool,
    ) -> Result<Answer> {
        let url = self.url(host, path);
        let attempts = if safe { self.timing.attempts.max(1) } else { 1 };
        let mut failures = 0;
        let first_attempt = Instant::now();
        loop {
            let request = self.logged_request(&method, &url, bytes, content_type, headers)?;
            let started = Instant::now();
            let outcome = self.agent.run(request);
            let retry_reason = match outcome {
                Err(e) => {
                    self.log.at(1, || format!("← {method} {url}: {e}"));
                    let error = self.no_answer(method.as_str(), &url, e);
                    // A timeout already waited as long as allowed: repeating it multiplies that.
                    if !error.is_connection_error() || failures + 1 >= attempts {
                        return Err(error.after_attempts(failures + 1, first_attempt.elapsed()));
                    }
                    error.reason()
                }
                Ok(response) => {
                    let answer = self.logged_answer(response, &method, &url, started)?;
                    if answer.status < 400 {
                        return Ok(answer);
                    }
                    let error = ApplianceError::Http {
                        method: method.to_string(),
                        url: url.clone(),
                        status: answer.status,
                        body: Box::new(ErrorBody::from_json(&answer.body)),
                    };
                    if answer.status < 500 || failures + 1 >= attempts {
                        return Err(error);
                    }
                    error.reason()
                }
            };
            failures += 1;
            let delay = self.backoff(failures);
            self.announce_retry(
                &format!("{method} {url}"),
                failures,
                attempts,
                &retry_reason,
                delay,
            );
            std::thread::sleep(delay);
        }
    }

    /// The request with its headers and body, logged as it goes out.
    fn logged_request(
        &self,
        method: &Method,
        url: &str,
        bytes: &[u8],
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Request<Vec<u8>>> {
        let mut builder = self.builder(method.clone(), url, content_type);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(bytes.to_vec())
            .map_err(|e| ApplianceError::Protocol(format!("{url}: {e}")))?;
        self.log.at(1, || format!("→ {method} {url}"));
        self.log.at(2, || {
            format!(
                "  headers: X-API-Version: {}, auth: {}",
                self.api_version,
                if self.session.is_some() {
                    "***"
                } else {
                    "(none)"
                }
            )
        });
        self.log.body("request", bytes);
        Ok(request)
    }

    /// Reads the answer and logs it with the time it took.
    fn logged_answer(
        &self,
        response: ureq::http::Response<ureq::Body>,
        method: &Method,
        url: &str,
        started: Instant,
    ) -> Result<Answer> {
        let answer = read_answer(response, &self.timing, method, url)?;
        self.log.at(1, || {
            format!(
                "← {} {method} {url} ({} ms)",
                answer.status,
                started.elapsed().as_millis()
            )
        });
        self.log.body(
            "response",
            &serde_json::to_vec(&answer.body).unwrap_or_default(),
        );
        Ok(answer)
    }

    pub fn get(&self, host: Host, path: &str) -> Result<Value> {
        Ok(self.request(Method::GET, host, path, None, true)?.body)
    }

    /// Sends a write and, when the appliance answers with a task, waits for it. Returns the
    /// resulting resource (the task's associated resource) or the body.
    pub fn write(
        &self,
        method: Method,
        host: Host,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let answer = self.request(method, host, path, body, false)?;
        self.finish(host, answer)
    }

    /// Follows a task answer to its end and returns the associated resource, if any.
    pub fn finish(&self, host: Host, answer: Answer) -> Result<Value> {
        let is_task = answer.status == 202
            || answer.body.get("category").and_then(Value::as_str) == Some("tasks");
        if !is_task {
            return Ok(answer.body);
        }
        let task_uri = answer
            .location
            .as_deref()
            .map(strip_base)
            .or_else(|| {
                answer
                    .body
                    .get("uri")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                ApplianceError::Protocol(
                    "202 Accepted without a Location header or task uri".into(),
                )
            })?;
        let task = self.wait_task(host, &task_uri)?;
        match task
            .pointer("/associatedResource/resourceUri")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            Some(uri) if task.get("name").and_then(Value::as_str) != Some("Delete") => {
                self.get(host, uri)
            }
            _ => Ok(task),
        }
    }

    /// Polls a task until it ends, with growing intervals and an overall limit.
    pub fn wait_task(&self, host: Host, task_uri: &str) -> Result<Value> {
        let started = Instant::now();
        let mut interval = self.timing.poll_initial;
        loop {
            let task = self.get(host, task_uri)?;
            let state = task
                .get("taskState")
                .and_then(Value::as_str)
                .unwrap_or("Unknown")
                .to_string();
            if TASK_SUCCESS.iter().any(|s| s.eq_ignore_ascii_case(&state)) {
                return Ok(task);
            }
            if TASK_FAILURE.iter().any(|s| s.eq_ignore_ascii_case(&state)) {
                let text = |k: &str| {
                    task.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                return Err(ApplianceError::Task {
                    uri: task_uri.to_string(),
                    name: text("name"),
                    state,
                    status: text("taskStatus"),
                    errors: task
                        .get("taskErrors")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(ErrorBody::from_json).collect())
                        .unwrap_or_default(),
                });
            }
            if started.elapsed() >= self.timing.task_timeout {
                return Err(ApplianceError::TaskTimeout {
                    uri: task_uri.to_string(),
                    waited_secs: started.elapsed().as_secs(),
                    state,
                });
            }
            std::thread::sleep(
                interval.min(self.timing.task_timeout.saturating_sub(started.elapsed())),
            );
            interval = (interval + interval / 2).min(self.timing.poll_max);
        }
    }

    /// Every member of a collection, following pages. With `name`, asks the appliance to filter
    /// and then keeps only exact matches (appliances and SDKs differ on filter semantics).
    pub fn list(&self, host: Host, path: &str, name: Option<&str>) -> Result<Vec<Value>> {
        let mut uri = format!("{path}?start=0&count=-1");
        if let Some(name) = name.filter(|n| !n.contains('\'')) {
            uri.push_str("&filter=");
            uri.push_str(&percent_encode(&format!("\"name='{name}'\"")));
        }
        let mut members = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self.get(host, &uri)?;
            let items = page
                .get("members")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ApplianceError::Protocol(format!("{uri}: no members[] in the collection"))
                })?;
            members.extend(items.iter().cloned());
            match page
                .get("nextPageUri")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                Some(next) if next != uri && seen.insert(next.to_string()) => {
                    uri = strip_base(next)
                }
                _ => break,
            }
        }
        if let Some(name) = name {
            members.retain(|m| m.get("name").and_then(Value::as_str) == Some(name));
        }
        Ok(members)
    }

    /// Uploads a file as `multipart/form-data` (field `file`), streamed from disk; `fields` go
    /// before the file. `progress` is told the bytes sent so far.
    pub fn upload(
        &self,
        host: Host,
        path: &str,
        file: &Path,
        file_name: &str,
        fields: &[(&str, &str)],
        progress: &dyn Fn(u64),
    ) -> Result<Answer> {
        let url = self.url(host, path);
        let io = |e: std::io::Error| ApplianceError::Io(format!("{}: {e}", file.display()));
        let handle = std::fs::File::open(file).map_err(io)?;
        let size = handle.metadata().map_err(io)?.len();
        let boundary = format!("----i3s-bundle-{}", uuid::Uuid::new_v4().simple());
        let (head, quoted, tail) = multipart_frame(&boundary, fields, file_name);
        let length = head.len() as u64 + size + tail.len() as u64;
        let mut body = ProgressReader {
            inner: std::io::Cursor::new(head.into_bytes())
                .chain(std::io::BufReader::with_capacity(1 << 20, handle))
                .chain(std::io::Cursor::new(tail.into_bytes())),
            sent: 0,
            progress,
        };
        let request = self
            .builder(
                Method::POST,
                &url,
                Some(&format!("multipart/form-data; boundary={boundary}")),
            )
            .header("uploadfilename", &quoted)
            .header("Content-Length", length.to_string())
            .body(ureq::SendBody::from_reader(&mut body))
            .map_err(|e| ApplianceError::Protocol(format!("{url}: {e}")))?;
        self.log.at(1, || {
            format!(
                "→ POST {url} (multipart, {size} bytes from {})",
                file.display()
            )
        });
        let started = Instant::now();
        let outcome = self.agent.run(request);
        let response = match outcome {
            Ok(response) => response,
            Err(ureq::Error::Timeout(ureq::Timeout::PerWrite | ureq::Timeout::SendBody)) => {
                self.log.at(1, || {
                    format!("← POST {url}: stalled after {} bytes", body.sent)
                });
                return Err(ApplianceError::Stalled {
                    url,
                    file: file.display().to_string(),
                    sent: body.sent,
                    total: length,
                    window: self.timing.stall_timeout,
                });
            }
            Err(e) => return Err(self.no_answer("POST", &url, e)),
        };
        self.upload_answer(response, url, started)
    }

    /// The upload's answer, logged with the time it took; an error status as an error.
    fn upload_answer(
        &self,
        response: ureq::http::Response<ureq::Body>,
        url: String,
        started: Instant,
    ) -> Result<Answer> {
        let answer = read_answer(response, &self.timing, &Method::POST, &url)?;
        self.log.at(1, || {
            format!(
                "← {} POST {url} ({} ms)",
                answer.status,
                started.elapsed().as_millis()
            )
        });
        if answer.status >= 400 {
            return Err(ApplianceError::Http {
                method: "POST".into(),
                url,
                status: answer.status,
                body: Box::new(ErrorBody::from_json(&answer.body)),
            });
        }
        Ok(answer)
    }

    /// Streams a GET into `out` (never held in memory). Returns the byte count. A GET is safe to
    /// repeat: on a connection error, a reset mid-body or a 5xx it is retried like any other
    /// (`out` restarted first), timeouts and 4xx end it.
    pub fn download(&self, host: Host, path: &str, out: &mut dyn Sink) -> Result<u64> {
        let url = self.url(host, path);
        let attempts = self.timing.attempts.max(1);
        let mut failures = 0;
        let first_attempt = Instant::now();
        loop {
            let error = match self.download_once(&url, out) {
                Ok(bytes) => return Ok(bytes),
                Err(e) => e,
            };
            let retry = error.is_connection_error() || error.status().is_some_and(|s| s >= 500);
            failures += 1;
            if !retry || failures >= attempts {
                return Err(error.after_attempts(failures, first_attempt.elapsed()));
            }
            out.restart().map_err(|e| {
                ApplianceError::Io(format!("restarting the download of {url}: {e}"))
            })?;
            let delay = self.backoff(failures);
            self.announce_retry(
                &format!("GET {url} (download)"),
                failures,
                attempts,
                &error.reason(),
                delay,
            );
            std::thread::sleep(delay);
        }
    }

    fn download_once(&self, url: &str, out: &mut dyn Sink) -> Result<u64> {
        let request = self
            .builder(Method::GET, url, None)
            .body(())
            .map_err(|e| ApplianceError::Protocol(format!("{url}: {e}")))?;
        self.log.at(1, || format!("→ GET {url} (download)"));
        let response = self
            .agent
            .run(request)
            .map_err(|e| self.no_answer("GET", url, e))?;
        let status = response.status().as_u16();
        self.log
            .at(1, || format!("← {status} GET {url} (download)"));
        if status >= 400 {
            let answer = read_answer(response, &self.timing, &Method::GET, url)?;
            return Err(ApplianceError::Http {
                method: "GET".into(),
                url: url.to_string(),
                status,
                body: Box::new(ErrorBody::from_json(&answer.body)),
            });
        }
        let mut reader = response.into_body().into_reader();
        std::io::copy(&mut reader, out).map_err(|e| {
            // ureq hands its own errors through io::Error::other.
            let ureq_timeout = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)));
            if ureq_timeout || e.kind() == std::io::ErrorKind::TimedOut {
                ApplianceError::Timeout {
                    method: "GET".into(),
                    url: url.to_string(),
                    waiting_for: "the next part of the download".into(),
                    limit: self.timing.read_timeout,
                    flag: "--read-timeout",
                }
            } else {
                ApplianceError::Connect {
                    method: "GET".into(),
                    url: url.to_string(),
                    message: format!("reading the download: {e}"),
                }
            }
        })
    }
}

/// Where a download goes. `restart` empties it, so that a retried download starts clean.
pub trait Sink: Write {
    fn restart(&mut self) -> std::io::Result<()>;
}

/// A file written from its start (a temporary file being filled).
impl Sink for std::io::BufWriter<&mut std::fs::File> {
    fn restart(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.flush()?;
        let file = self.get_mut();
        file.set_len(0)?;
        file.rewind()
    }
}

/// A ureq failure without an answer: a timeout names the bound and its setting; anything else
/// (refused, reset, TLS) is a connection error, which safe requests retry.
fn transport_error(timing: &Timing, method: &str, url: &str, e: ureq::Error) -> ApplianceError {
    let timeout =
        |waiting_for: &str, limit: Duration, flag: &'static str| ApplianceError::Timeout {
            method: method.to_string(),
            url: url.to_string(),
            waiting_for: waiting_for.to_string(),
            limit,
            flag,
        };
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => timeout(
            "the connection",
            timing.connect_timeout,
            "--connect-timeout or ONEVIEWSDK_CONNECTION_TIMEOUT",
        ),
        ureq::Error::Timeout(
            ureq::Timeout::PerWrite | ureq::Timeout::SendRequest | ureq::Timeout::SendBody,
        ) => timeout(
            "the appliance to take the request",
            timing.stall_timeout,
            "--stall-timeout",
        ),
        ureq::Error::Timeout(_) => timeout(
            "the answer",
            timing.read_timeout,
            "--read-timeout or ONEVIEWSDK_CONNECTION_TIMEOUT",
        ),
        other => ApplianceError::Connect {
            method: method.to_string(),
            url: url.to_string(),
            message: other.to_string(),
        },
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.logout();
    }
}

/// The multipart body around the file: the form fields and the file part's header before it,
/// the closing boundary after; and the file name as quoted in them.
fn multipart_frame(
    boundary: &str,
    fields: &[(&str, &str)],
    file_name: &str,
) -> (String, String, String) {
    let mut head = String::new();
    for (name, value) in fields {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    let quoted = file_name.replace(['"', '\r', '\n'], "_");
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ));
    let tail = format!("\r\n--{boundary}--\r\n");
    (head, quoted, tail)
}

fn read_answer(
    response: ureq::http::Response<ureq::Body>,
    timing: &Timing,
    method: &Method,
    url: &str,
) -> Result<Answer> {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response
        .into_body()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|e| match transport_error(timing, method.as_str(), url, e) {
            ApplianceError::Connect {
                method,
                url,
                message,
            } => ApplianceError::Connect {
                method,
                url,
                message: format!("reading the answer: {message}"),
            },
            timeout => timeout,
        })?;
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|_| json!({ "message": text.chars().take(500).collect::<String>() }))
    };
    Ok(Answer {
        status,
        location,
        body,
    })
}

/// `https://host/rest/x` → `/rest/x`; a path stays as it is.
fn strip_base(uri: &str) -> String {
    match uri.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map(|i| rest[i..].to_string())
            .unwrap_or_else(|| "/".into()),
        None => uri.to_string(),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

struct ProgressReader<'a, R> {
    inner: R,
    sent: u64,
    progress: &'a dyn Fn(u64),
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        (self.progress)(self.sent);
        Ok(n)
    }
}
