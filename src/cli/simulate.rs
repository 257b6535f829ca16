use crate::image::boot::{self, BootOptions};
use crate::simulator::consul::{AutoBoot, ConsulStandIn};
use crate::simulator::machines::{MachineConfig, Machines};
use crate::simulator::{Faults, SimConfig, Simulator, demo};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Where a node's first-boot scripts find their Consul agent (templates/_lib/sh.j2's
/// `consul_api`); a booting simulated server's agent listens here.
const NODE_AGENT: &str = "127.0.0.1:8500";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0: any free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Serve HTTPS with a fresh self-signed CA; its certificate is written to --ca-cert-out.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the CA certificate for clients' --ca-cert (default DATA_DIR/ca.pem).
    #[arg(long, value_name = "FILE")]
    pub ca_cert_out: Option<PathBuf>,
    /// Keep the appliance state in FILE across restarts.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Where uploaded bundles are stored (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Faults to inject, e.g. "latency=20ms,5xx=0.2,task-error=1,reset-upload=1,slow-tasks=2s,etag-race=1,seed=7".
    #[arg(long, value_name = "SPEC", default_value = "")]
    pub faults: String,
    /// Polls a task answers "Running" before it completes.
    #[arg(long, default_value_t = 1)]
    pub task_polls: u32,
    /// The API version the simulator reports as current.
    #[arg(long, default_value_t = 2000)]
    pub api_version: u32,
    /// The user name accepted at login; the password comes from I3S_SIM_PASSWORD (default "simulator").
    #[arg(long, default_value = "administrator")]
    pub user: String,
    /// Seed a small lab from the project (-C): enclosure frame1 with four bays of server
    /// hardware, a golden image stand-in for each OS profile's golden image, a server profile
    /// template named after each deployment plan of bundles-src/ (wire it with publish
    /// --profile-template); and run the Consul stand-in on 127.0.0.1:8500 unless
    /// --consul-listen says where.
    #[arg(long)]
    pub demo: bool,
    /// The project (bundles-src/, golden-images/, templates/) for --demo and --boot-image.
    /// Default: the current directory or the nearest parent holding bundles-src/.
    #[arg(long, short = 'C', value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// Also run a Consul stand-in here. Its ACL tokens: I3S_SIM_CONSUL_TOKEN (a management
    /// token, what `deploy` reads with) and/or --consul-tokens. Without --boot-image, nodes no
    /// agent serves come up by themselves once their server is powered on (for trying
    /// `deploy`).
    #[arg(long, value_name = "ADDR")]
    pub consul_listen: Option<SocketAddr>,
    /// Health reads a simulated first boot takes in the Consul stand-in.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub consul_boot_reads: u32,
    /// A local Consul agent for node NODE on loopback address ADDR (repeatable), e.g.
    /// node01=127.0.0.2:8500: the agent API a node's first-boot scripts call (agent self, service
    /// and check registration, TTL updates, KV) acting for NODE; what it registers is what
    /// `deploy` reads for NODE. Needs --consul-listen.
    #[arg(long, value_name = "NODE=ADDR", value_parser = parse_agent)]
    pub consul_agent: Vec<(String, SocketAddr)>,
    /// ACL tokens of the Consul stand-in, one a line: `POLICY TOKEN`, where POLICY names
    /// DIR/POLICY.hcl of --consul-policies (or is global-management). Every other token is
    /// refused ("ACL not found"); the default policy is deny. Keep the file private (chmod 600).
    #[arg(long, value_name = "FILE")]
    pub consul_tokens: Option<PathBuf>,
    /// Directory of Consul ACL policies (HCL rules, one POLICY.hcl each), e.g.
    /// templates/consul-policies.
    #[arg(long, value_name = "DIR", requires = "consul_tokens")]
    pub consul_policies: Option<PathBuf>,
    /// Servers deploy and boot for real (as root; guestfish, systemd-nspawn): OS=FILE or
    /// "GOLDEN IMAGE NAME=FILE", FILE a disk image (qcow2 or raw) playing that golden image, e.g.
    /// debian12=d12.qcow2 (`golden-image build`). Powering on a server whose profile names an
    /// OS deployment plan runs the plan's build plan on an overlay of FILE with the profile's
    /// attributes, then boots the result under systemd with the Consul stand-in's agent on
    /// 127.0.0.1:8500 acting for the node; powering it on again reboots it. Repeatable.
    /// Progress on standard error and at GET /sim/machines.
    #[arg(long = "boot-image", value_name = "NAME=FILE")]
    pub boot_images: Vec<String>,
    /// The bound on each boot of a simulated server: 90s, 5m (humantime), or seconds.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = crate::units::parse_duration)]
    pub boot_timeout: Duration,
    /// A unit the container cannot run, UNIT=REASON (adds to the boot_skip of the project's
    /// templates/ contracts): it gets a stand-in that writes its done-stamp. Repeatable.
    #[arg(long = "boot-skip", value_name = "UNIT=REASON")]
    pub boot_skip: Vec<String>,
}

/// `NODE=ADDR` of --consul-agent, on loopback only.
fn parse_agent(text: &str) -> crate::Result<(String, SocketAddr)> {
    let usage = crate::Error::Usage;
    let (node, addr) = text.split_once('=').ok_or_else(|| {
        usage(format!(
            "{text:?}: expected NODE=ADDR, e.g. node01=127.0.0.2:8500"
        ))
    })?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| usage(format!("{addr:?}: not an address with a port ({e})")))?;
    if node.is_empty() || node.contains('/') {
        return Err(usage(format!("{node:?}: expected a node name (no '/')")));
    }
    if !addr.ip().is_loopback() {
        return Err(usage(format!(
            "{addr}: the stand-in agent listens on loopback addresses only (127.0.0.0/8, ::1)"
        )));
    }
    Ok((node.to_string(), addr))
}

/// The Consul stand-in's tokens: the management token from the environment and the file's.
fn consul_tokens(args: &Args) -> crate::Result<crate::simulator::consul::AclTokens> {
    use crate::simulator::consul::{Access, AclTokens};
    let mut tokens = AclTokens::default();
    let management = std::env::var("I3S_SIM_CONSUL_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    if let Some(token) = &management {
        tokens.add(token, Access::Management);
    }
    match &args.consul_tokens {
        Some(file) => tokens.load(file, args.consul_policies.as_deref())?,
        None if management.is_none() => {
            return Err(crate::Error::Usage(
                "the Consul stand-in (--consul-listen or --demo): set I3S_SIM_CONSUL_TOKEN to the ACL token it accepts, or give --consul-tokens FILE".into(),
            ));
        }
        None => {}
    }
    Ok(tokens)
}

pub fn run(mut args: Args) -> crate::Result<ExitCode> {
    // Only --demo and --boot-image read the project; found upwards like every other command.
    if args.root == Path::new(".") && (args.demo || !args.boot_images.is_empty()) {
        args.root = super::project::find_from_cwd()?;
    }
    let faults = Faults::parse(&args.faults)?;
    let consul_listen = args
        .consul_listen
        .or_else(|| args.demo.then(|| NODE_AGENT.parse().expect("address")));
    if consul_listen.is_none()
        && (!args.consul_agent.is_empty()
            || args.consul_tokens.is_some()
            || !args.boot_images.is_empty())
    {
        return Err(crate::Error::Usage(
            "--consul-agent, --consul-tokens and --boot-image need the Consul stand-in: add --consul-listen ADDR (or --demo)".into(),
        ));
    }
    // Read and checked before anything starts: bad input changes nothing.
    let tokens = match consul_listen {
        Some(_) => Some(consul_tokens(&args)?),
        None => None,
    };
    let seed = match args.demo {
        true => Some(demo::seed(&args.root)?),
        false => None,
    };
    let machines = match args.boot_images.is_empty() {
        true => None,
        false => Some(machine_settings(&args)?),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| args.state.as_ref().map(|s| s.with_extension("data")));
    let config = SimConfig {
        listen: args.listen,
        tls: args.tls,
        ca_cert_out: args.ca_cert_out,
        data_dir,
        state_file: args.state,
        faults,
        task_polls: args.task_polls,
        current_version: args.api_version,
        user: args.user,
        password: std::env::var("I3S_SIM_PASSWORD").unwrap_or_else(|_| "simulator".into()),
        ..SimConfig::default()
    };
    let simulator = Simulator::start(config)?;
    if let Some(seed) = &seed {
        simulator.seed(seed)?;
    }
    let (mut consul, agents) = start_consul(
        &args.consul_agent,
        args.consul_boot_reads,
        consul_listen,
        tokens,
        machines.is_none(),
        &simulator,
    )?;
    if let (Some(settings), Some(consul)) = (machines, consul.as_mut()) {
        attach_machines(&simulator, settings, consul)?;
    }
    announce(
        &simulator,
        &args.root,
        seed.is_some(),
        consul.as_ref(),
        &agents,
    )?;
    simulator.wait();
    drop(consul);
    Ok(ExitCode::SUCCESS)
}

/// A node agent of --consul-agent: the node's name and the agent's URL.
type NodeAgent = (String, String);

/// The Consul stand-in (when asked for) and the node agents of --consul-agent, with their URLs.
/// `auto_boot`: no real machines boot, so simulated servers report first boot by themselves.
fn start_consul(
    agent_nodes: &[(String, SocketAddr)],
    boot_reads: u32,
    listen: Option<SocketAddr>,
    tokens: Option<crate::simulator::consul::AclTokens>,
    auto_boot: bool,
    simulator: &Simulator,
) -> crate::Result<(Option<ConsulStandIn>, Vec<NodeAgent>)> {
    let mut consul = match (listen, tokens) {
        (Some(listen), Some(tokens)) => {
            // Simulated servers that really boot report through their agent; nothing fakes them.
            let auto = auto_boot.then(|| AutoBoot {
                appliance: simulator.base_url.clone(),
                boot_reads,
            });
            Some(ConsulStandIn::start_with(listen, tokens, auto)?)
        }
        _ => None,
    };
    let mut agents = Vec::new();
    if let Some(consul) = consul.as_mut() {
        for (node, listen) in agent_nodes {
            agents.push((node.clone(), consul.add_agent(*listen, node)?));
        }
    }
    Ok((consul, agents))
}

/// --boot-image: simulated servers that really boot, reporting through the node agent.
fn attach_machines(
    simulator: &Simulator,
    settings: MachineSettings,
    consul: &mut ConsulStandIn,
) -> crate::Result<()> {
    let node_agent: SocketAddr = NODE_AGENT.parse().expect("address");
    let agent = match consul.agent(node_agent) {
        Some(agent) => agent,
        None => {
            consul.add_agent(node_agent, "unbooted")?;
            consul.agent(node_agent).expect("just added")
        }
    };
    let work = simulator.data_dir().join("machines");
    std::fs::create_dir_all(&work).map_err(|e| crate::Error::io(&work, e))?;
    simulator.attach_machines(Machines::new(MachineConfig {
        images: settings.images,
        boot: settings.boot,
        agent,
        work,
    }));
    Ok(())
}

/// What is listening where, on stdout: the first lines a test or a user reads.
fn announce(
    simulator: &Simulator,
    root: &Path,
    demo_lab: bool,
    consul: Option<&ConsulStandIn>,
    agents: &[NodeAgent],
) -> crate::Result<()> {
    // Written without panicking when the reader has gone (a test keeps only the first line).
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "simulator listening on {}", simulator.base_url);
    if let Some(ca) = &simulator.ca_cert {
        let _ = writeln!(
            out,
            "CA certificate: {} (pass it as --ca-cert)",
            ca.display()
        );
    }
    let _ = writeln!(
        out,
        "test hooks: GET {0}/sim/requests, POST {0}/sim/seed, PUT {0}/sim/faults, GET {0}/sim/machines",
        simulator.base_url
    );
    if demo_lab {
        let _ = writeln!(
            out,
            "demo lab: enclosure {} with {} server bays, golden image stand-ins: {}",
            demo::ENCLOSURE,
            demo::BAYS,
            demo::golden_image_names(root)?
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(consul) = consul {
        let _ = writeln!(
            out,
            "consul stand-in listening on {} (CONSUL_HTTP_ADDR)",
            consul.base_url
        );
    }
    for (node, url) in agents {
        let _ = writeln!(out, "consul agent of node {node} listening on {url}");
    }
    let _ = out.flush();
    Ok(())
}

/// What `--boot-image` and its options make of the servers.
struct MachineSettings {
    images: BTreeMap<String, PathBuf>,
    boot: BootOptions,
}

/// `--boot-image NAME=FILE`s (NAME an OS of the project or a golden image name), the stand-ins
/// (the project's contracts' `boot_skip`, then `--boot-skip`); checks the host can boot.
fn machine_settings(args: &Args) -> crate::Result<MachineSettings> {
    boot::check_environment()?;
    let mut images = BTreeMap::new();
    for pair in &args.boot_images {
        let (name, file) = pair.split_once('=').ok_or_else(|| {
            crate::Error::Usage(format!(
                "--boot-image {pair:?}: expected NAME=FILE, e.g. debian12=d12.qcow2"
            ))
        })?;
        let file = std::fs::canonicalize(file).map_err(|e| crate::Error::io(file, e))?;
        let golden_image = demo::golden_image_of(&args.root, name)?.unwrap_or(name.to_string());
        images.insert(golden_image, file);
    }
    let mut skip = project_boot_skips(&args.root.join("templates"))?;
    for pair in &args.boot_skip {
        let (unit, reason) = pair.split_once('=').ok_or_else(|| {
            crate::Error::Usage(format!(
                "--boot-skip {pair:?}: expected UNIT=REASON, e.g. network-bond.service=\"needs the server's NICs\""
            ))
        })?;
        skip.insert(unit.to_string(), reason.to_string());
    }
    crate::terminal::alert(
        "--boot-image runs the deployed nodes' first-boot units as root in containers that are no security boundary: boot only bundles you trust",
    );
    Ok(MachineSettings {
        images,
        boot: BootOptions {
            timeout: args.boot_timeout,
            skip,
            nspawn_args: Vec::new(),
            keep: None,
            stop: None,
        },
    })
}

/// The `boot_skip` of every template's contract under `dir` (none when there is no such
/// directory: a simulator started outside a project).
fn project_boot_skips(dir: &Path) -> crate::Result<BTreeMap<String, String>> {
    let mut skip = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(skip);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "j2"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| crate::Error::io(&path, e))?;
        if let Some(contract) = crate::source::contract::parse_contract(&path, &text)? {
            skip.extend(contract.boot_skip);
        }
    }
    Ok(skip)
}
