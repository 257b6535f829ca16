//! Simulated servers that really boot (`simulate --boot-image`).
//!
//! Powering on server hardware whose server profile names an OS deployment plan does what the
//! appliance and the server would:
//! - **Deploy** (first power-on of a profile): the deployment plan's build plan, as it is on the
//!   simulated appliance now, runs on a copy-on-write overlay of the disk image that plays the
//!   plan's golden image (guestfish, as `i3s-bundle run` runs it), with the attribute values the
//!   appliance would substitute: the profile's `osCustomAttributes`, else the deployment plan's
//!   values; values the appliance derives from the server itself (NIC MAC addresses, …) are
//!   `run --sample-attrs` samples. The resulting root file system is exported to a directory:
//!   the server's OS volume.
//! - **Boot** (every power-on): that tree boots under systemd (`run --boot`'s systemd-nspawn),
//!   with the Consul stand-in's agent on 127.0.0.1:8500 acting for the node (its `/etc/hostname`,
//!   as a real agent names itself), so the node's first-boot units report to the stand-in and
//!   `deploy` reads the verdict there. Units a container cannot run get `run --boot`'s stand-ins.
//!   The boot ends when first boot has (the collector powers the container off); the node's TTL
//!   check then expires as a powered-off node's would. A second power-on is a reboot: the tree
//!   keeps what the last boot left.
//! - Power-off stops a boot still running; deleting the profile discards the OS volume.
//!
//! One boot at a time: the agent address is shared. What happened is at `GET /sim/machines` and
//! on the simulator's standard error.
use super::consul::AgentHandle;
use super::state::State;
use crate::bundle::Bundle;
use crate::bundle::checksum::ChecksumFlavour;
use crate::bundle::manifest::Manifest;
use crate::bundle::model::{BuildPlan, PlanScript};
use crate::error::{Error, Result};
use crate::guestfish::driver::DiskFormat;
use crate::image::boot::{self, BootOptions, BootReport};
use crate::image::listing::ChangeKind;
use crate::image::run::{self, HostAccess, Values};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How machines deploy and boot.
pub struct MachineConfig {
    /// Golden image name → the disk image (qcow2 or raw) that plays it; opened read-only.
    pub images: BTreeMap<String, PathBuf>,
    /// Timeout, stand-ins (`skip`), nspawn options of each boot.
    pub boot: BootOptions,
    /// The Consul agent the nodes' scripts call (on 127.0.0.1:8500).
    pub agent: AgentHandle,
    /// Where OS volumes (exported trees) and boot output go.
    pub work: PathBuf,
}

/// The simulated servers.
pub struct Machines {
    config: MachineConfig,
    servers: Mutex<BTreeMap<String, Machine>>,
    /// One boot at a time (the agent address is shared).
    booting: Mutex<()>,
    /// One golden-image export at a time (deploys of the same image wait for the first).
    exporting: Mutex<()>,
}

/// One server's OS volume and boots.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub server_hardware_uri: String,
    pub server_profile_uri: String,
    /// `deploying`, `booting`, `off`, or `failed` (see `error`).
    pub phase: String,
    /// The Consul node name (the OS volume's /etc/hostname).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why the last deploy or boot could not be done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every boot so far, oldest first.
    pub boots: Vec<BootReport>,
    #[serde(skip)]
    volume: Option<Volume>,
    #[serde(skip)]
    stop: Arc<AtomicBool>,
}

/// A deployed OS volume.
#[derive(Debug, Clone)]
struct Volume {
    tree: PathBuf,
    /// The first-boot units the deploy plan linked.
    units: Vec<String>,
}

/// What a power-on deploys: resolved from the appliance's state while it is locked.
struct Deployment {
    bundle: Bundle,
    build_plan: String,
    values: Values,
    image: PathBuf,
}

impl Machines {
    pub fn new(config: MachineConfig) -> Arc<Machines> {
        Arc::new(Machines {
            config,
            servers: Mutex::new(BTreeMap::new()),
            booting: Mutex::new(()),
            exporting: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Machine>> {
        self.servers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `GET /sim/machines`.
    pub fn snapshot(&self) -> Value {
        serde_json::to_value(self.lock().values().collect::<Vec<_>>()).unwrap_or_default()
    }

    /// The hardware at `hardware_uri` was powered on: deploy its profile's plan the first time,
    /// then boot (in the background).
    pub fn power_on(self: &Arc<Self>, state: &State, hardware_uri: &str) {
        let Some(profile) = state
            .get(hardware_uri)
            .and_then(|h| h["serverProfileUri"].as_str())
            .and_then(|uri| state.get(uri))
            .cloned()
        else {
            return;
        };
        let profile_uri = profile["uri"].as_str().unwrap_or_default().to_string();
        let plan_uri = profile
            .pointer("/osDeploymentSettings/osDeploymentPlanUri")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if plan_uri.is_empty() {
            return;
        }
        let mut servers = self.lock();
        let known = servers
            .get(hardware_uri)
            .filter(|m| m.server_profile_uri == profile_uri && m.volume.is_some())
            .is_some();
        if !known {
            self.discard(&mut servers, hardware_uri);
        }
        let machine = servers
            .entry(hardware_uri.to_string())
            .or_insert_with(|| Machine {
                server_hardware_uri: hardware_uri.to_string(),
                server_profile_uri: profile_uri.clone(),
                phase: "off".into(),
                node: None,
                error: None,
                boots: Vec::new(),
                volume: None,
                stop: Arc::new(AtomicBool::new(false)),
            });
        machine.stop = Arc::new(AtomicBool::new(false));
        machine.error = None;
        let deployment = if known {
            None
        } else {
            match self.resolve(state, &profile, plan_uri) {
                Ok(d) => Some(d),
                Err(e) => {
                    let name = profile["name"].as_str().unwrap_or_default();
                    eprintln!(
                        "simulated server {hardware_uri} (profile {name:?}): not deployed: {e}"
                    );
                    machine.phase = "failed".into();
                    machine.error = Some(e.to_string());
                    return;
                }
            }
        };
        machine.phase = if known { "booting" } else { "deploying" }.into();
        let (machines, hardware) = (self.clone(), hardware_uri.to_string());
        std::thread::spawn(move || machines.bring_up(&hardware, deployment));
    }

    /// The simulator stops: every boot still running is powered off (its container stopped)
    /// before this returns.
    pub fn shutdown(&self) {
        for machine in self.lock().values() {
            machine.stop.store(true, Ordering::SeqCst);
        }
        drop(self.booting.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The hardware was powered off: a boot still running is stopped.
    pub fn power_off(&self, hardware_uri: &str) {
        if let Some(machine) = self.lock().get(hardware_uri) {
            machine.stop.store(true, Ordering::SeqCst);
        }
    }

    /// The hardware's profile was deleted: its OS volume goes.
    pub fn profile_deleted(&self, hardware_uri: &str) {
        let mut servers = self.lock();
        self.discard(&mut servers, hardware_uri);
    }

    fn discard(&self, servers: &mut BTreeMap<String, Machine>, hardware_uri: &str) {
        if let Some(machine) = servers.remove(hardware_uri) {
            machine.stop.store(true, Ordering::SeqCst);
            if let Some(volume) = machine.volume
                && let Some(dir) = volume.tree.parent()
            {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    /// Deploys (when asked) and boots, recording the outcome; runs on its own thread.
    fn bring_up(&self, hardware: &str, deployment: Option<Deployment>) {
        let dir = self.config.work.join(super::servers::name_id(hardware));
        if let Some(deployment) = deployment {
            match self.deploy(hardware, &deployment, &dir) {
                Ok(volume) => self.update(hardware, |m| {
                    m.volume = Some(volume);
                    m.phase = "booting".into();
                }),
                Err(e) => {
                    eprintln!("simulated server {hardware}: deploy failed: {e}");
                    return self.update(hardware, |m| {
                        m.phase = "failed".into();
                        m.error = Some(format!("deploy: {e}"));
                    });
                }
            }
        }
        let Some((volume, stop)) = self
            .lock()
            .get(hardware)
            .and_then(|m| m.volume.clone().map(|v| (v, m.stop.clone())))
        else {
            return;
        };
        let _one_at_a_time = self.booting.lock().unwrap_or_else(|p| p.into_inner());
        if stop.load(Ordering::SeqCst) {
            return self.update(hardware, |m| m.phase = "off".into());
        }
        eprintln!("simulated server {hardware}: booting");
        match self.boot(&volume, &dir, stop) {
            Ok((node, report)) => {
                // What its verdict rests on: never "ready" without saying what did not run.
                let stood_in: Vec<&str> = report
                    .units
                    .iter()
                    .filter(|u| matches!(u.status, boot::UnitStatus::NotExercised { .. }))
                    .map(|u| u.unit.as_str())
                    .collect();
                eprintln!(
                    "simulated server {hardware}: node {node} booted ({:?}, {:.0} s){}{}",
                    report.outcome,
                    report.elapsed.as_secs_f64(),
                    match report.failed() {
                        failed if failed.is_empty() => String::new(),
                        failed => format!("; failed: {}", failed.join(", ")),
                    },
                    match stood_in.is_empty() {
                        true => String::new(),
                        false => format!("; not exercised (stood in): {}", stood_in.join(", ")),
                    }
                );
                self.update(hardware, |m| {
                    m.node = Some(node);
                    m.phase = "off".into();
                    m.boots.push(report);
                });
            }
            Err(e) => {
                eprintln!("simulated server {hardware}: boot failed: {e}");
                self.update(hardware, |m| {
                    m.phase = "failed".into();
                    m.error = Some(format!("boot: {e}"));
                });
            }
        }
    }

    fn update(&self, hardware: &str, change: impl FnOnce(&mut Machine)) {
        if let Some(machine) = self.lock().get_mut(hardware) {
            change(machine);
        }
    }

    /// Runs the build plan on an overlay of the golden image and exports the root it mounts.
    fn deploy(&self, hardware: &str, deployment: &Deployment, dir: &Path) -> Result<Volume> {
        let started = std::time::Instant::now();
        eprintln!(
            "simulated server {hardware}: deploying: build plan {:?} on {}",
            deployment.build_plan,
            deployment.image.display()
        );
        let source = Path::new("the simulated appliance");
        let mut prepared = run::prepare(
            source,
            &deployment.bundle,
            &deployment.build_plan,
            &deployment.values,
            HostAccess::Refuse,
        )?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let changes = dir.join("changes.tar");
        prepared.changes_tar = Some(changes.clone());
        let root_device = prepared.root_device.clone().ok_or_else(|| {
            Error::other(format!(
                "build plan {:?} mounts no root file system: nothing to boot",
                deployment.build_plan
            ))
        })?;
        let ran = run::run_jobs_kept(&[(deployment.image.as_path(), &prepared)], None)?;
        let report = &ran.report.plans[0];
        if let Some(failure) = &report.failure {
            return Err(Error::other(format!(
                "build plan {:?} failed at step {} ({}){}: {}",
                deployment.build_plan,
                failure.serial,
                failure.step_name,
                failure
                    .line
                    .map(|l| format!(", line {l}"))
                    .unwrap_or_default(),
                failure.message
            )));
        }
        let tree = dir.join("root");
        let ran_at = started.elapsed();
        match (&report.changes, changes.is_file()) {
            // The golden image's tree (exported once) plus what the plan changed.
            (Some(listed), true) => {
                let base = self.base_tree(&deployment.image, &root_device)?;
                copy_tree(&base, &tree)?;
                boot::unpack(&changes, &tree)?;
                for change in listed.iter().filter(|c| c.kind == ChangeKind::Removed) {
                    remove(&tree.join(change.path.trim_start_matches('/')))?;
                }
                let _ = std::fs::remove_file(&changes);
            }
            // No read-back: the whole root file system of the result.
            _ => boot::export_tree(&ran.overlays[0], &root_device, &tree)?,
        }
        eprintln!(
            "simulated server {hardware}: deployed: plan ran in {:.0} s, OS volume ready in {:.0} s",
            ran_at.as_secs_f64(),
            (started.elapsed() - ran_at).as_secs_f64()
        );
        Ok(Volume {
            units: boot::first_boot_units(report.changes.as_deref(), &tree),
            tree,
        })
    }

    /// The root file system of `image` (device `root`), exported once per simulator run: each
    /// deploy copies it and applies what its plan changed.
    fn base_tree(&self, image: &Path, root: &str) -> Result<PathBuf> {
        let _one_export = self.exporting.lock().unwrap_or_else(|p| p.into_inner());
        let key = super::servers::name_id(&format!("{}\0{root}", image.display()));
        let dir = self.config.work.join("golden").join(key);
        let tree = dir.join("root");
        if tree.is_dir() {
            return Ok(tree);
        }
        let started = std::time::Instant::now();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let overlay = dir.join("read.qcow2");
        run::create_overlay(image, DiskFormat::detect(image)?, &overlay)?;
        let partial = dir.join("root.partial");
        boot::export_tree(&overlay, root, &partial)?;
        std::fs::remove_file(&overlay).map_err(|e| Error::io(&overlay, e))?;
        std::fs::rename(&partial, &tree).map_err(|e| Error::io(&tree, e))?;
        eprintln!(
            "golden image {}: root file system exported in {:.0} s (once per simulator run)",
            image.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(tree)
    }

    /// Boots the volume once, the agent acting for the node it names.
    fn boot(
        &self,
        volume: &Volume,
        dir: &Path,
        stop: Arc<AtomicBool>,
    ) -> Result<(String, BootReport)> {
        let hostname = volume.tree.join("etc/hostname");
        let node = std::fs::read_to_string(&hostname)
            .map_err(|e| Error::io(&hostname, e))?
            .trim()
            .to_string();
        self.config.agent.act_for(&node);
        let out = dir.join("out");
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        let options = BootOptions {
            stop: Some(stop),
            ..self.config.boot.clone()
        };
        let report = boot::boot_tree(
            &volume.tree,
            &out,
            &volume.units,
            &self.config.boot.skip,
            &options,
        )?;
        Ok((node, report))
    }

    /// What the profile deploys, from the appliance's state: OS deployment plan → deployment
    /// plan → build plan and plan scripts, golden image → its disk image, attribute values.
    fn resolve(&self, state: &State, profile: &Value, plan_uri: &str) -> Result<Deployment> {
        let missing = |what: String| Error::other(format!("{what} is not on the appliance"));
        let deployment_plan = state
            .os_deployment_plans()
            .into_iter()
            .find(|o| o["uri"] == plan_uri)
            .and_then(|o| {
                o["nativePlanUri"]
                    .as_str()
                    .and_then(|u| state.get(u))
                    .cloned()
            })
            .ok_or_else(|| missing(format!("OS deployment plan {plan_uri}")))?;
        let build_plan_uri = deployment_plan["oeBuildPlanURI"]
            .as_str()
            .unwrap_or_default();
        let build_plan: BuildPlan = state
            .get(build_plan_uri)
            .cloned()
            .ok_or_else(|| missing(format!("build plan {build_plan_uri:?}")))
            .and_then(|v| {
                serde_json::from_value(v).map_err(|e| Error::other(format!("build plan: {e}")))
            })?;
        let mut plan_scripts = Vec::new();
        for step in &build_plan.steps {
            let script: PlanScript = state
                .get(&step.plan_script_uri)
                .cloned()
                .ok_or_else(|| missing(format!("plan script {:?}", step.plan_script_uri)))
                .and_then(|v| {
                    serde_json::from_value(v).map_err(|e| Error::other(format!("plan script: {e}")))
                })?;
            plan_scripts.push(script);
        }
        let image_uri = deployment_plan["goldenImageURI"]
            .as_str()
            .unwrap_or_default();
        let image_name = state
            .get(image_uri)
            .and_then(|g| g["name"].as_str())
            .ok_or_else(|| {
                Error::other(format!(
                    "deployment plan {} has no golden image on the appliance",
                    deployment_plan["name"]
                ))
            })?;
        let image = self.config.images.get(image_name).cloned().ok_or_else(|| {
            Error::Usage(format!(
                "no disk image plays golden image {image_name:?}: give simulate --boot-image \"{image_name}=FILE\" (or OS=FILE for the OS whose profile names it)"
            ))
        })?;
        let build_plan_name = build_plan.name.clone();
        let bundle = Bundle {
            manifest: Manifest {
                artifact_name: "simulated appliance".into(),
                description: String::new(),
                read_only: false,
                time_stamp: String::new(),
                artifact_type: String::new(),
            },
            checksum: ChecksumFlavour::default(),
            plan_scripts,
            golden_images: Vec::new(),
            build_plans: vec![build_plan],
            deployment_plans: Vec::new(),
        };
        let values = attribute_values(&bundle, &deployment_plan, profile);
        Ok(Deployment {
            bundle,
            build_plan: build_plan_name,
            values,
            image,
        })
    }
}

/// The values the appliance substitutes: the profile's, else the deployment plan's; what it
/// derives from the server (NIC fields) and nothing else gives: `run --sample-attrs` samples.
fn attribute_values(bundle: &Bundle, deployment_plan: &Value, profile: &Value) -> Values {
    let mut values = run::sample_values(bundle, &bundle.build_plans[0]);
    let pairs = |list: Option<&Value>| -> Vec<(String, String)> {
        list.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let name = a["name"].as_str()?;
                let value = match &a["value"] {
                    Value::String(s) => s.clone(),
                    Value::Null => return None,
                    other => other.to_string(),
                };
                Some((name.to_string(), value))
            })
            .collect()
    };
    for (name, value) in pairs(deployment_plan.get("customAttributes")) {
        if !value.is_empty() {
            values.insert(name, value);
        }
    }
    for (name, value) in pairs(profile.pointer("/osDeploymentSettings/osCustomAttributes")) {
        values.insert(name, value);
    }
    values
}

/// `cp -a` (owners, modes, links, xattrs as root keeps them; reflinked where the file system can).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let output = std::process::Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(from)
        .arg(to)
        .output()
        .map_err(|e| Error::other(format!("cannot run cp: {e}")))?;
    if !output.status.success() {
        return Err(Error::other(format!(
            "copying {} to {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// Removes what the plan removed (already gone with a removed parent: fine).
fn remove(path: &Path) -> Result<()> {
    let result = match path.symlink_metadata() {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    };
    result.map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::api::{PLAN_SCRIPTS, member};
    use serde_json::json;

    #[test]
    fn values_come_from_the_profile_then_the_plan_then_samples() {
        let plan: BuildPlan = serde_json::from_value(json!({
            "type": "OeBuildPlanV5", "buildPlanid": "bp", "name": "P", "oeBuildPlanType": "deploy",
            "buildStep": [{"serialNumber": "1", "planScriptName": "S", "planScriptUri": member(PLAN_SCRIPTS, "s1")}],
            "customAttributes": [
                {"name": "HOST", "type": "fqdn", "value": "", "constraints": "{}"},
                {"name": "VLAN", "type": "number", "value": "0", "constraints": "{}"},
                {"name": "REPO", "type": "string", "value": "http://a", "constraints": "{}"}]
        }))
        .unwrap();
        let script: PlanScript = serde_json::from_value(json!({
            "type": "PlanScript", "id": "s1", "name": "S", "planType": "deploy",
            "content": "echo @HOST@ @VLAN@ @REPO@ @NIC1.mac@"
        }))
        .unwrap();
        let bundle = Bundle {
            manifest: Manifest {
                artifact_name: String::new(),
                description: String::new(),
                read_only: false,
                time_stamp: String::new(),
                artifact_type: String::new(),
            },
            checksum: ChecksumFlavour::default(),
            plan_scripts: vec![script],
            golden_images: Vec::new(),
            build_plans: vec![plan],
            deployment_plans: Vec::new(),
        };
        let deployment_plan = json!({"customAttributes": [
            {"name": "VLAN", "value": "7"}, {"name": "REPO", "value": "http://mirror"}]});
        let profile = json!({"osDeploymentSettings": {"osCustomAttributes": [
            {"name": "HOST", "value": "n1.example.org"}, {"name": "REPO", "value": "http://site"}]}});
        let values = attribute_values(&bundle, &deployment_plan, &profile);
        assert_eq!(values["HOST"], "n1.example.org");
        assert_eq!(values["VLAN"], "7");
        assert_eq!(values["REPO"], "http://site");
        // What the appliance derives from the server: a sample.
        assert_eq!(values["NIC1.mac"], "00:00:5e:00:53:01");
    }
}
