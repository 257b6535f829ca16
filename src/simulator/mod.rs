//! The appliance simulator: a real HTTP(S) server on loopback speaking the Image Streamer and
//! OneView subset of `docs/appliance-api.md` §11, with fault injection and request counters.
//! Tests start it in-process ([`Simulator::start`]); users run `i3s-bundle simulate`.
//!
//! One server plays both hosts (OneView and Image Streamer paths do not overlap); sessions
//! issued by the OneView login are accepted on every path, as on a real pair of appliances.
pub mod admin;
pub mod bundles;
pub mod consul;
pub mod demo;
pub mod faults;
pub mod golden_images;
pub mod http;
pub mod machines;
pub mod server;
pub mod servers;
pub mod state;

use crate::error::{Error, Location, Result};
pub use faults::Faults;
use state::State;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    /// Serve HTTPS with a certificate signed by a fresh CA, written to `ca_cert_out`.
    pub tls: bool,
    /// Where the CA certificate (PEM) goes; default `<data dir>/ca.pem`.
    pub ca_cert_out: Option<PathBuf>,
    /// Where uploads are stored; default a temporary directory removed at shutdown.
    pub data_dir: Option<PathBuf>,
    /// Load the state from this file at start (if it exists) and save it after every write.
    pub state_file: Option<PathBuf>,
    pub faults: Faults,
    /// Polls a task answers `Running` before it ends.
    pub task_polls: u32,
    pub current_version: u32,
    pub minimum_version: u32,
    pub user: String,
    pub password: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            tls: false,
            ca_cert_out: None,
            data_dir: None,
            state_file: None,
            faults: Faults::default(),
            task_polls: 1,
            current_version: 2000,
            minimum_version: 300,
            user: "administrator".into(),
            password: "simulator".into(),
        }
    }
}

/// What every handler shares.
pub struct Shared {
    state: Mutex<State>,
    pub data_dir: PathBuf,
    state_file: Option<PathBuf>,
    /// Servers that really deploy and boot (`simulate --boot-image`), once attached.
    machines: std::sync::OnceLock<Arc<machines::Machines>>,
}

impl Shared {
    /// The state; a handler that panicked (the simulated connection reset) never holds it.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn machines(&self) -> Option<&Arc<machines::Machines>> {
        self.machines.get()
    }

    /// Saves the state to `--state FILE` (atomically), if one was given.
    pub fn persist(&self) {
        let Some(path) = &self.state_file else { return };
        let snapshot = self.lock().snapshot();
        let _ = crate::fs::write_atomic(
            path,
            &serde_json::to_vec_pretty(&snapshot).unwrap_or_default(),
        );
    }
}

/// A running simulator.
pub struct Simulator {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` or `https://localhost:PORT`.
    pub base_url: String,
    pub ca_cert: Option<PathBuf>,
    shared: Arc<Shared>,
    handle: axum_server::Handle<SocketAddr>,
    thread: Option<std::thread::JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl Simulator {
    /// Binds, starts serving on a background thread and returns once it listens.
    pub fn start(config: SimConfig) -> Result<Simulator> {
        let (temp, data_dir) = data_directory(&config)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(initial_state(&config)?),
            data_dir: data_dir.clone(),
            state_file: config.state_file.clone(),
            machines: std::sync::OnceLock::new(),
        });
        let listen = config.listen;
        let refused = |e: std::io::Error| Error::Usage(format!("cannot listen on {listen}: {e}"));
        let listener = std::net::TcpListener::bind(listen).map_err(refused)?;
        listener.set_nonblocking(true).map_err(refused)?;
        let addr = listener.local_addr().map_err(refused)?;
        let (tls, ca_cert) = match config.tls {
            true => {
                let ca_path = config
                    .ca_cert_out
                    .clone()
                    .unwrap_or_else(|| data_dir.join("ca.pem"));
                (Some(make_certificate(&ca_path)?), Some(ca_path))
            }
            false => (None, None),
        };
        let base_url = match &tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let router = axum::Router::new()
            .fallback(server::dispatch)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let handle = axum_server::Handle::new();
        let thread = serve(listener, router, tls, handle.clone())?;
        Ok(Simulator {
            addr,
            base_url,
            ca_cert,
            shared,
            handle,
            thread: Some(thread),
            _temp: temp,
        })
    }

    /// From now on, powering on a server with a profile deploys and boots it for real.
    pub fn attach_machines(&self, machines: Arc<machines::Machines>) {
        let _ = self.shared.machines.set(machines);
    }

    /// Where uploads (and simulated servers' OS volumes) are stored.
    pub fn data_dir(&self) -> &Path {
        &self.shared.data_dir
    }

    /// Adds resources, as `POST /sim/seed` does.
    pub fn seed(&self, seed: &serde_json::Value) -> Result<()> {
        self.shared
            .lock()
            .seed(seed)
            .map(|_| ())
            .map_err(|e| crate::Error::other(format!("seeding the simulator: {e}")))?;
        self.shared.persist();
        Ok(())
    }

    /// Blocks until the server stops or the process gets SIGINT or SIGTERM (the `simulate`
    /// command); then stops running boots and the server, and removes the temporary data
    /// directory (uploads, OS volumes).
    pub fn wait(mut self) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(runtime) = runtime {
            runtime.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut term) = signal(SignalKind::terminate()) else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
        }
        eprintln!("simulate: stopping");
        if let Some(machines) = self.shared.machines() {
            machines.shutdown();
        }
        self.stop();
    }

    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The data directory: `--data-dir`, or a temporary one (returned, to be removed at shutdown).
fn data_directory(config: &SimConfig) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    let (temp, data_dir) = match &config.data_dir {
        Some(dir) => (None, dir.clone()),
        None => {
            let temp = tempfile::tempdir()
                .map_err(|e| Error::other(format!("temporary directory: {e}")))?;
            let dir = temp.path().to_path_buf();
            (Some(temp), dir)
        }
    };
    std::fs::create_dir_all(&data_dir).map_err(|e| Error::io(&data_dir, e))?;
    Ok((temp, data_dir))
}

/// A fresh state, with what `--state FILE` kept if that file exists.
fn initial_state(config: &SimConfig) -> Result<State> {
    let mut state = State::new(
        config.current_version,
        config.minimum_version,
        config.user.clone(),
        config.password.clone(),
        config.faults.clone(),
        config.task_polls,
    );
    if let Some(path) = &config.state_file
        && path.exists()
    {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::at(Location::file(path).at(e.line(), e.column()), e.to_string()))?;
        state
            .restore(&json)
            .map_err(|e| Error::at(Location::file(path), e.to_string()))?;
    }
    Ok(state)
}

/// Serves `router` on `listener` (HTTPS with `tls`: certificate and key PEM) from a thread of
/// its own; returns once it listens.
fn serve(
    listener: std::net::TcpListener,
    router: axum::Router,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    handle: axum_server::Handle<SocketAddr>,
) -> Result<std::thread::JoinHandle<()>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => runtime.block_on(serve_on(listener, router, tls, handle, ready_tx)),
            Err(e) => {
                let _ = ready_tx.send(Err(Error::other(e.to_string())));
            }
        }
    });
    ready_rx
        .recv()
        .map_err(|_| Error::other("the simulator thread ended before listening"))??;
    Ok(thread)
}

/// The server's life on its runtime: says on `ready` when it listens (or why not), then serves
/// until the handle shuts it down.
async fn serve_on(
    listener: std::net::TcpListener,
    router: axum::Router,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    handle: axum_server::Handle<SocketAddr>,
    ready: std::sync::mpsc::Sender<Result<()>>,
) {
    let service = router.into_make_service();
    let result = match tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = match axum_server::tls_rustls::RustlsConfig::from_pem(cert, key).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready.send(Err(Error::other(format!("TLS configuration: {e}"))));
                    return;
                }
            };
            match axum_server::from_tcp_rustls(listener, config) {
                Ok(server) => {
                    let _ = ready.send(Ok(()));
                    server.handle(handle).serve(service).await
                }
                Err(e) => Err(e),
            }
        }
        None => match axum_server::from_tcp(listener) {
            Ok(server) => {
                let _ = ready.send(Ok(()));
                server.handle(handle).serve(service).await
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        eprintln!("simulator stopped: {e}");
    }
}

/// A CA (written to `ca_path` for clients' `--ca-cert`) and a server certificate it signs for
/// `localhost` and `127.0.0.1`. Returns the server certificate and key as PEM.
fn make_certificate(ca_path: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let err = |e: rcgen::Error| Error::other(format!("certificate: {e}"));
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "i3s-bundle simulator CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    if let Some(dir) = ca_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(ca_path, ca_cert.pem()).map_err(|e| Error::io(ca_path, e))?;
    Ok((cert.pem().into_bytes(), key.serialize_pem().into_bytes()))
}
