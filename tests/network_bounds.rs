//! Every network operation has a bound (issue #19): a loopback server that misbehaves in ways the
//! simulator cannot — it stops reading an upload half-way, or accepts and never answers — must
//! be given up on within the configured window with a clear error; a cleartext login needs
//! `--insecure` and says so loudly.
use crate::publish_support;
use publish_support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the raw server treats the requests it gets.
#[derive(Clone, Copy, PartialEq)]
enum Misbehaviour {
    /// Accepts connections, reads requests, never answers any.
    NeverAnswers,
    /// Answers the version check and login like an appliance, lists no golden images, and reads
    /// this many bytes of an upload's body before it stops reading (the socket stays open).
    StopsReadingUploadAfter(u64),
    /// Lists one artifact bundle and sends its download in this many 64 KiB pieces, with this
    /// long a pause before each: slow, but never silent for long.
    SlowDownload(usize, Duration),
}

const SLOW_PIECE: usize = 64 << 10;

/// A hand-written HTTP/1.1 server on loopback: one thread per connection, kept alive.
struct RawServer {
    addr: SocketAddr,
    /// Upload body bytes read before the server stopped reading.
    upload_read: Arc<AtomicU64>,
    /// When it stopped reading.
    stopped_at: Arc<Mutex<Option<Instant>>>,
    /// "METHOD path" of every request head seen.
    seen: Arc<Mutex<Vec<String>>>,
}

impl RawServer {
    fn start(mode: Misbehaviour) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let upload_read = Arc::new(AtomicU64::new(0));
        let stopped_at = Arc::new(Mutex::new(None));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (read, stopped, log) = (upload_read.clone(), stopped_at.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (read, stopped, log) = (read.clone(), stopped.clone(), log.clone());
                std::thread::spawn(move || serve(stream, mode, (&read, &stopped), &log));
            }
        });
        RawServer {
            addr,
            upload_read,
            stopped_at,
            seen,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Holds a connection open without touching it (the test process ends it).
fn hold() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn serve(
    stream: TcpStream,
    mode: Misbehaviour,
    (upload_read, stopped_at): (&AtomicU64, &Mutex<Option<Instant>>),
    seen: &Mutex<Vec<String>>,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return; // the client closed the connection
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let request_line = head.first().cloned().unwrap_or_default();
        let mut parts = request_line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        seen.lock().unwrap().push(format!("{method} {path}"));
        let length: u64 = head
            .iter()
            .find_map(|h| {
                let (name, value) = h.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        if mode == Misbehaviour::NeverAnswers {
            hold();
        }
        if let Misbehaviour::StopsReadingUploadAfter(limit) = mode
            && method == "POST"
            && path.starts_with("/rest/golden-images")
        {
            let mut chunk = vec![0u8; 64 << 10];
            let mut read = 0u64;
            while read < limit.min(length) {
                let want = chunk.len().min((limit - read) as usize);
                match reader.read(&mut chunk[..want]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read += n as u64,
                }
                upload_read.store(read, Ordering::SeqCst);
            }
            *stopped_at.lock().unwrap() = Some(Instant::now());
            hold();
        }
        std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink()).unwrap();
        if let Misbehaviour::SlowDownload(pieces, pause) = mode
            && path.starts_with("/rest/artifact-bundles/download/")
        {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\n\r\n",
                pieces * SLOW_PIECE
            );
            writer.write_all(head.as_bytes()).unwrap();
            for _ in 0..pieces {
                std::thread::sleep(pause);
                if writer.write_all(&[b'z'; SLOW_PIECE]).is_err() {
                    return;
                }
            }
            continue;
        }
        let (status, body) = match (method.as_str(), path.split('?').next().unwrap_or_default()) {
            ("GET", "/rest/version") => {
                ("200 OK", r#"{"currentVersion":2000,"minimumVersion":300}"#)
            }
            ("POST", "/rest/login-sessions") => ("200 OK", r#"{"sessionID":"raw-session"}"#),
            ("DELETE", "/rest/login-sessions") => ("204 No Content", ""),
            ("GET", "/rest/golden-images") => ("200 OK", r#"{"members":[],"nextPageUri":null}"#),
            ("GET", "/rest/artifact-bundles") => (
                "200 OK",
                r#"{"members":[{"name":"slow","uri":"/rest/artifact-bundles/1","downloadURI":"/rest/artifact-bundles/download/1"}],"nextPageUri":null}"#,
            ),
            _ => ("404 Not Found", r#"{"message":"not here"}"#),
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// `i3s-bundle ARGS` against `url` with test credentials; killed (and the test failed) if it
/// is still running after `limit`, so a hang shows as a failure, not a stuck test run.
fn run_bounded(url: &str, args: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
        .args(args)
        .env("ONEVIEWSDK_IP", url)
        .env("ONEVIEWSDK_IMAGE_STREAMER_IP", url)
        .env("ONEVIEWSDK_USERNAME", "administrator")
        .env("ONEVIEWSDK_PASSWORD", PASSWORD)
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {limit:?} (killed): {}", text(&output));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output, started.elapsed())
}

/// A golden image payload of `mib` MiB: a zip holding one stored (uncompressed) entry, so the
/// bytes on the wire are the file's size.
fn large_payload(dir: &std::path::Path, mib: usize) -> std::path::PathBuf {
    let path = dir.join("big-image.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    zip.start_file("big-image.raw", options).unwrap();
    let block: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    for _ in 0..mib {
        zip.write_all(&block).unwrap();
    }
    zip.finish().unwrap();
    path
}

#[test]
fn a_stalled_upload_ends_within_the_stall_window_with_exit_1_naming_the_bytes_sent() {
    const STOP_AFTER: u64 = 1 << 20;
    let server = RawServer::start(Misbehaviour::StopsReadingUploadAfter(STOP_AFTER));
    let dir = tempfile::tempdir().unwrap();
    // Larger than what loopback socket buffers can swallow once the server stops reading.
    let payload = large_payload(dir.path(), 48);
    let file = payload.to_str().unwrap();
    let (output, _) = run_bounded(
        &server.url(),
        &[
            "golden-image",
            "upload",
            file,
            "--name",
            "Big Image",
            "--insecure",
            "--stall-timeout",
            "2s",
        ],
        Duration::from_secs(60),
    );
    let ended = Instant::now();
    let all = text(&output);
    let stopped = server
        .stopped_at
        .lock()
        .unwrap()
        .expect("the upload reached the server");
    // From the server's last read to the end: the kernel buffers take some megabytes more (the
    // client is still making progress then), then no write moves for the 2 s window.
    let elapsed = ended - stopped;
    eprintln!("stalled upload ended {elapsed:?} after the server stopped reading:\n{all}");
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert_eq!(
        server.upload_read.load(Ordering::SeqCst),
        STOP_AFTER,
        "the server read up to its limit and then stopped"
    );
    assert!(
        all.contains("upload of")
            && all.contains("big-image.zip")
            && all.contains("stalled")
            && all.contains("took no data for 2s")
            && all.contains("--stall-timeout"),
        "what stalled, for how long and what to do: {all}"
    );
    // How far it got, in bytes: at least what the server read, less than the whole file.
    let sent: u64 = all
        .split("took no data for 2s after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in: {all}"));
    let total = std::fs::metadata(&payload).unwrap().len();
    assert!(
        sent >= STOP_AFTER && sent < total,
        "{sent} of {total}: {all}"
    );
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(6),
        "given up on once no byte moved for the 2 s window (after the kernel's buffers took what \
         they could, which on loopback trickles on for a moment), not later: {elapsed:?}"
    );
    assert!(!all.contains(PASSWORD));
}

#[test]
fn a_server_that_accepts_and_never_answers_is_given_up_on_after_the_read_timeout() {
    let server = RawServer::start(Misbehaviour::NeverAnswers);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let (output, elapsed) = run_bounded(
        &server.url(),
        &[
            "publish",
            bundle.to_str().unwrap(),
            "--insecure",
            "--read-timeout",
            "2s",
        ],
        Duration::from_secs(60),
    );
    let all = text(&output);
    eprintln!("never-answering server given up on after {elapsed:?}");
    // Nothing was attempted on the appliance (login failed): a connection problem, exit 2.
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(
        all.contains("/rest/version")
            && all.contains("gave up waiting for the answer after 2s")
            && all.contains("--read-timeout"),
        "{all}"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(8),
        "one read timeout, not one per retry: {elapsed:?}"
    );
    assert_eq!(
        server.seen.lock().unwrap().as_slice(),
        ["GET /rest/version"],
        "a timed-out request is not repeated"
    );
}

#[test]
fn a_download_slower_than_the_read_timeout_in_total_completes_while_data_keeps_coming() {
    const PIECES: usize = 6;
    let server = RawServer::start(Misbehaviour::SlowDownload(
        PIECES,
        Duration::from_millis(400),
    ));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slow.zip");
    let (output, elapsed) = run_bounded(
        &server.url(),
        &[
            "pull",
            "slow",
            "--out",
            out.to_str().unwrap(),
            "--insecure",
            "--read-timeout",
            "1s",
        ],
        Duration::from_secs(60),
    );
    eprintln!("slow download took {elapsed:?}");
    assert!(output.status.success(), "{}", text(&output));
    assert!(elapsed > Duration::from_millis(2400), "{elapsed:?}");
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        (PIECES * SLOW_PIECE) as u64,
        "the whole download, though it took longer than the read timeout"
    );
}

#[test]
fn a_download_that_stops_coming_ends_after_the_read_timeout_without_retries() {
    let server = RawServer::start(Misbehaviour::SlowDownload(3, Duration::from_secs(30)));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stuck.zip");
    let (output, elapsed) = run_bounded(
        &server.url(),
        &[
            "pull",
            "slow",
            "--out",
            out.to_str().unwrap(),
            "--insecure",
            "--read-timeout",
            "1s",
        ],
        Duration::from_secs(60),
    );
    let all = text(&output);
    eprintln!("stuck download given up on after {elapsed:?}");
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        all.contains("gave up waiting for the next part of the download after 1s"),
        "{all}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let downloads = server
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("GET /rest/artifact-bundles/download/"))
        .count();
    assert_eq!(downloads, 1, "a timed-out download is not repeated");
    assert!(!out.exists(), "no partial file is left as the output");
}

#[test]
fn a_cleartext_login_is_refused_without_insecure_and_warned_about_with_it() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    assert!(sim.base_url.starts_with("http://"));
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let bundle = bundle.to_str().unwrap();
    let (refused, _) = run_bounded(&sim.base_url, &["publish", bundle], Duration::from_secs(60));
    let all = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!("OneView address {} is plain http", sim.base_url))
            && all.contains("--insecure"),
        "{all}"
    );
    assert!(
        requests(&sim)["log"].as_array().unwrap().is_empty(),
        "nothing was sent, the password least of all"
    );
    let (allowed, _) = run_bounded(
        &sim.base_url,
        &["publish", bundle, "--insecure"],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&allowed.stderr);
    assert!(allowed.status.success(), "{}", text(&allowed));
    assert!(
        stderr.contains(&format!(
            "WARNING: --insecure: {} is plain http: the password and session token go over the network UNENCRYPTED",
            sim.base_url
        )),
        "{stderr}"
    );
    assert!(!text(&allowed).contains(PASSWORD));
}
