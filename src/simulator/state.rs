//! The simulated appliances' data: resources as JSON objects per collection, sessions, tasks.
//! Held behind one mutex; no lock is held across an await.
use super::faults::{Faults, Rng};
use crate::error::{Error, Result};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::appliance::api::{
    ARTIFACT_BUNDLES, BUILD_PLANS, DEPLOYMENT_PLANS, GOLDEN_IMAGES, OS_DEPLOYMENT_PLANS,
    PLAN_SCRIPTS, REST_PREFIX, SERVER_PROFILE_TEMPLATES, TASKS, category, member,
};

/// Collections stored as such, with their `category` and default `type`.
pub const STORED: [(&str, &str, &str); 6] = [
    (PLAN_SCRIPTS, "plan-scripts", "PlanScript"),
    (BUILD_PLANS, "oe-build-plans", "OeBuildPlanV5"),
    (
        DEPLOYMENT_PLANS,
        "oe-deployment-plans",
        "OEDeploymentPlanV5",
    ),
    (GOLDEN_IMAGES, "golden-images", "GoldenImage"),
    (ARTIFACT_BUNDLES, "artifacts-bundle", "ArtifactsBundle"),
    (
        SERVER_PROFILE_TEMPLATES,
        "server-profile-templates",
        "ServerProfileTemplateV8",
    ),
];

#[derive(Debug)]
pub struct Task {
    pub value: Value,
    pub polls_left: u32,
    pub ready_at: Instant,
    pub fails: bool,
    /// Never finishes (the pre-2020 extract without `?extract=true`, docs/appliance-api.md §10 #1).
    pub hangs: bool,
}

#[derive(Debug)]
pub struct State {
    pub current_version: u32,
    pub minimum_version: u32,
    pub user: String,
    pub password: String,
    pub sessions: BTreeSet<String>,
    /// Collection path → members in creation order.
    pub resources: BTreeMap<String, Vec<Value>>,
    /// Bundle id → the uploaded zip.
    pub bundle_files: BTreeMap<String, PathBuf>,
    pub tasks: BTreeMap<String, Task>,
    pub faults: Faults,
    pub rng: Rng,
    pub task_polls: u32,
    /// "METHOD /path" → count, and the ordered log (method, path with query, status).
    pub counts: BTreeMap<String, u64>,
    pub log: Vec<(String, String, u16)>,
    revision: u64,
}

impl State {
    pub fn new(
        current_version: u32,
        minimum_version: u32,
        user: String,
        password: String,
        faults: Faults,
        task_polls: u32,
    ) -> State {
        let rng = Rng::new(faults.seed);
        State {
            current_version,
            minimum_version,
            user,
            password,
            sessions: BTreeSet::new(),
            resources: STORED
                .iter()
                .map(|(path, _, _)| (path.to_string(), Vec::new()))
                .collect(),
            bundle_files: BTreeMap::new(),
            tasks: BTreeMap::new(),
            faults,
            rng,
            task_polls,
            counts: BTreeMap::new(),
            log: Vec::new(),
            revision: 0,
        }
    }

    pub fn now() -> String {
        let now = time::OffsetDateTime::now_utc();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            now.year(),
            now.month() as u8,
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.millisecond()
        )
    }

    /// A fresh eTag in the appliance's `epoch-ms/revision` form.
    pub fn etag(&mut self) -> String {
        self.revision += 1;
        let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        format!("{ms}/{}", self.revision)
    }

    pub fn list(&self, collection: &str) -> &[Value] {
        self.resources
            .get(collection)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn get(&self, uri: &str) -> Option<&Value> {
        let collection = collection_of(uri)?;
        self.list(collection)
            .iter()
            .find(|v| v.get("uri").and_then(Value::as_str) == Some(uri))
    }

    pub fn by_name(&self, collection: &str, name: &str) -> Option<&Value> {
        self.list(collection)
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
    }

    /// Stores a new resource, filling uri, id, category, type, eTag and timestamps.
    pub fn insert(&mut self, collection: &str, mut value: Value, id: Option<String>) -> Value {
        let (_, category, kind) = STORED
            .iter()
            .find(|(p, _, _)| *p == collection)
            .copied()
            .unwrap_or((collection, "resources", "Resource"));
        let id = id
            .filter(|id| self.get(&format!("{collection}/{id}")).is_none())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let etag = self.etag();
        let object = value.as_object_mut().expect("resources are objects");
        object.entry("type").or_insert_with(|| json!(kind));
        object.insert("uri".into(), json!(format!("{collection}/{id}")));
        object.insert("id".into(), json!(id));
        object.insert("category".into(), json!(category));
        object.insert("eTag".into(), json!(etag));
        object.insert("created".into(), json!(Self::now()));
        object.insert("modified".into(), json!(Self::now()));
        object.entry("state").or_insert(json!("Normal"));
        object.entry("status").or_insert(json!("OK"));
        self.resources
            .entry(collection.to_string())
            .or_default()
            .push(value.clone());
        value
    }

    /// Replaces a stored resource (same uri), with a new eTag.
    pub fn replace(&mut self, uri: &str, mut value: Value) -> Option<Value> {
        let collection = collection_of(uri)?.to_string();
        let etag = self.etag();
        let list = self.resources.get_mut(&collection)?;
        let slot = list
            .iter_mut()
            .find(|v| v.get("uri").and_then(Value::as_str) == Some(uri))?;
        let object = value.as_object_mut()?;
        for key in ["uri", "id", "category", "created"] {
            if let Some(v) = slot.get(key) {
                object.insert(key.into(), v.clone());
            }
        }
        object.insert("eTag".into(), json!(etag));
        object.insert("modified".into(), json!(Self::now()));
        *slot = value.clone();
        Some(value)
    }

    pub fn remove(&mut self, uri: &str) -> Option<Value> {
        let collection = collection_of(uri)?.to_string();
        let list = self.resources.get_mut(&collection)?;
        let index = list
            .iter()
            .position(|v| v.get("uri").and_then(Value::as_str) == Some(uri))?;
        Some(list.remove(index))
    }

    /// Decides whether the next task fails (fault `task-error`); call before applying a change.
    pub fn next_task_fails(&mut self, task_name: &str) -> bool {
        let targeted = self.faults.task_error_on.is_empty()
            || self.faults.task_error_on.eq_ignore_ascii_case(task_name);
        if self.faults.task_errors > 0 && targeted {
            self.faults.task_errors -= 1;
            true
        } else {
            false
        }
    }

    /// Creates a task. `errors` non-empty (or `fails`) makes it end in `Error`.
    pub fn task(
        &mut self,
        name: &str,
        resource_uri: &str,
        resource_name: &str,
        fails: bool,
        errors: Vec<Value>,
        hangs: bool,
    ) -> Value {
        let id = uuid::Uuid::new_v4().to_string().to_uppercase();
        let uri = member(TASKS, &id);
        let errors = if fails && errors.is_empty() {
            vec![error_body(
                "TASK_FAILED",
                &format!("{name} failed (injected fault)"),
                "The appliance simulator was told to fail this task.",
                &["Retry the operation."],
            )]
        } else {
            errors
        };
        let fails = fails || !errors.is_empty();
        let etag = self.etag();
        let value = json!({
            "type": "TaskResourceV2", "uri": uri, "category": "tasks", "name": name, "owner": self.user,
            "taskState": "New", "taskStatus": format!("{name} {resource_name}"), "taskType": "User",
            "percentComplete": 0, "computedPercentComplete": 0, "completedSteps": 0, "totalSteps": 0,
            "expectedDuration": 5, "created": Self::now(), "modified": Self::now(), "eTag": etag,
            "hidden": false, "userInitiated": true, "parentTaskUri": null, "associatedTaskUri": null, "stateReason": null,
            "associatedResource": {"associationType": "MANAGED_BY", "resourceCategory": category(collection_of(resource_uri).unwrap_or_default()),
                                   "resourceName": resource_name, "resourceUri": resource_uri},
            "progressUpdates": [], "taskErrors": errors, "taskOutput": [], "data": null,
        });
        self.tasks.insert(
            uri.clone(),
            Task {
                value: value.clone(),
                polls_left: self.task_polls,
                ready_at: Instant::now() + Duration::from_millis(self.faults.slow_task_ms),
                fails,
                hangs,
            },
        );
        value
    }

    /// A task as seen by one poll: each poll moves it on; it ends after `task_polls` polls and
    /// no sooner than the slow-task delay.
    pub fn poll_task(&mut self, uri: &str) -> Option<Value> {
        let task = self.tasks.get_mut(uri)?;
        let state = task.value["taskState"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if state == "Completed" || state == "Error" {
            return Some(task.value.clone());
        }
        let done = !task.hangs && task.polls_left == 0 && Instant::now() >= task.ready_at;
        task.polls_left = task.polls_left.saturating_sub(1);
        let object = task.value.as_object_mut().expect("object");
        if done {
            object.insert(
                "taskState".into(),
                json!(if task.fails { "Error" } else { "Completed" }),
            );
            object.insert("percentComplete".into(), json!(100));
            object.insert("computedPercentComplete".into(), json!(100));
        } else {
            object.insert("taskState".into(), json!("Running"));
            object.insert("percentComplete".into(), json!(50));
        }
        object.insert("modified".into(), json!(Self::now()));
        Some(task.value.clone())
    }

    /// OneView's view of the Image Streamer deployment plans (docs/appliance-api.md §8.1), computed
    /// on read. The OneView id differs from the Image Streamer id on purpose: clients must resolve
    /// it.
    pub fn os_deployment_plans(&self) -> Vec<Value> {
        self.list(DEPLOYMENT_PLANS)
            .iter()
            .map(|dp| {
                let dp_id = dp["id"].as_str().unwrap_or_default();
                let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, dp_id.as_bytes()).to_string();
                let parameters: Vec<Value> = dp["customAttributes"]
                    .as_array()
                    .map(|attrs| {
                        attrs
                            .iter()
                            .map(|a| {
                                json!({"name": a["name"], "value": a.get("value").cloned().unwrap_or(json!("")), "description": a.get("description").cloned().unwrap_or(json!("")),
                                       "caId": a.get("id").cloned().unwrap_or(Value::Null), "caType": a["type"], "caConstraints": a.get("constraints").cloned().unwrap_or(json!("{}")),
                                       "caEditable": a.get("editable").cloned().unwrap_or(json!(true))})
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "type": "Osdp", "category": "os-deployment-plans", "uri": format!("{OS_DEPLOYMENT_PLANS}/{id}"), "id": id,
                    "name": dp["name"], "description": dp.get("description").cloned().unwrap_or(json!("")), "deploymentType": "i3s",
                    "deploymentAppliance": "simulated", "deploymentApplianceIpv4": "127.0.0.1", "nativePlanUri": dp["uri"],
                    "osType": "Linux", "architecture": "x86_64", "osdpSize": "10GB", "additionalParameters": parameters,
                    "state": "Normal", "status": "OK", "eTag": dp["eTag"],
                })
            })
            .collect()
    }

    /// What `--state FILE` keeps.
    pub fn snapshot(&self) -> Value {
        json!({ "resources": self.resources, "bundleFiles": self.bundle_files })
    }

    /// Takes back what [`snapshot`](Self::snapshot) kept; errors name the part that is wrong.
    pub fn restore(&mut self, snapshot: &Value) -> Result<()> {
        let resources: BTreeMap<String, Vec<Value>> =
            serde_json::from_value(snapshot.get("resources").cloned().unwrap_or(json!({})))
                .map_err(|e| Error::Usage(format!("resources: {e}")))?;
        self.resources.extend(resources);
        let files: BTreeMap<String, PathBuf> =
            serde_json::from_value(snapshot.get("bundleFiles").cloned().unwrap_or(json!({})))
                .map_err(|e| Error::Usage(format!("bundleFiles: {e}")))?;
        self.bundle_files.extend(files);
        Ok(())
    }

    /// Adds resources from `{"<collection path>": [objects]}` (tests, `POST /sim/seed`, state
    /// files).
    pub fn seed(&mut self, seed: &Value) -> Result<Vec<Value>> {
        let object = seed.as_object().ok_or_else(|| {
            Error::Usage(format!(
                "the seed must be an object {{\"{REST_PREFIX}<collection>\": [...]}}"
            ))
        })?;
        let mut created = Vec::new();
        for (collection, members) in object {
            if !collection.starts_with(REST_PREFIX) {
                return Err(Error::Usage(format!(
                    "{collection:?} is not a {REST_PREFIX} collection path"
                )));
            }
            for member in members
                .as_array()
                .ok_or_else(|| Error::Usage(format!("{collection}: expected an array")))?
            {
                let mut member = member.clone();
                let member_object = member.as_object_mut().ok_or_else(|| {
                    Error::Usage(format!("{collection}: members must be objects"))
                })?;
                if member_object.get("name").and_then(Value::as_str).is_none() {
                    return Err(Error::Usage(format!(
                        "{collection}: every member needs a name"
                    )));
                }
                let id = member_object
                    .remove("id")
                    .and_then(|v| v.as_str().map(str::to_string));
                created.push(self.insert(collection, member, id));
            }
        }
        Ok(created)
    }
}

/// `/rest/plan-scripts/abc` → `/rest/plan-scripts`.
pub fn collection_of(uri: &str) -> Option<&str> {
    let uri = uri.split('?').next()?;
    let index = uri.rfind('/')?;
    (index >= REST_PREFIX.len()).then(|| &uri[..index])
}

/// The appliance's error body (docs/appliance-api.md §2.4).
pub fn error_body(code: &str, message: &str, details: &str, actions: &[&str]) -> Value {
    json!({"errorCode": code, "message": message, "details": details, "recommendedActions": actions,
           "nestedErrors": [], "errorSource": null, "data": {}})
}

/// Filter, sort and page a collection (docs/appliance-api.md §2.5): `name='X'` (with or without
/// surrounding double quotes, any field), `name matches 'X%'`, `sort=name:asc|desc`, `start`,
/// `count`.
pub fn query(members: &[Value], params: &[(String, String)], path: &str) -> Result<Value> {
    let mut selected: Vec<&Value> = members.iter().collect();
    for (key, value) in params {
        if key == "filter" {
            let filter = Filter::parse(value)?;
            selected.retain(|m| filter.matches(m));
        }
    }
    if let Some((_, sort)) = params.iter().find(|(k, _)| k == "sort") {
        let (field, order) = sort.split_once(':').unwrap_or((sort.as_str(), "asc"));
        let key = |v: &Value| {
            v.get(field)
                .map(|f| {
                    f.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| f.to_string())
                })
                .unwrap_or_default()
        };
        selected.sort_by_key(|v| key(v));
        if order.eq_ignore_ascii_case("desc") {
            selected.reverse();
        }
    }
    let number = |name: &str, default: i64| -> Result<i64> {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| {
                v.parse::<i64>()
                    .map_err(|_| Error::Usage(format!("{name}={v:?} is not a number")))
            })
            .unwrap_or(Ok(default))
    };
    let start = number("start", 0)?.max(0) as usize;
    let count = number("count", -1)?;
    let total = selected.len();
    let end = if count < 0 {
        total
    } else {
        (start + count as usize).min(total)
    };
    let page: Vec<Value> = selected
        .get(start.min(total)..end.max(start.min(total)))
        .unwrap_or_default()
        .iter()
        .map(|v| (*v).clone())
        .collect();
    let others: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "start")
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let page_uri = |s: usize| {
        let mut uri = format!("{path}?start={s}");
        for o in &others {
            uri.push('&');
            uri.push_str(o);
        }
        uri
    };
    let next = (end < total).then(|| page_uri(end));
    let prev = (start > 0 && count > 0).then(|| page_uri(start.saturating_sub(count as usize)));
    Ok(
        json!({"type": "Collection", "uri": page_uri(start), "category": category(path), "start": start, "count": page.len(),
              "total": total, "nextPageUri": next, "prevPageUri": prev, "members": page}),
    )
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

enum Filter {
    Equals(String, String),
    Matches(String, regex::Regex),
}

impl Filter {
    fn parse(text: &str) -> Result<Filter> {
        let text = text.trim().trim_matches('"').trim();
        let unquote = |v: &str| v.trim().trim_matches('\'').to_string();
        if let Some((field, value)) = text.split_once(" matches ") {
            let pattern = regex::escape(&unquote(value)).replace('%', ".*");
            let re = regex::RegexBuilder::new(&format!("^{pattern}$"))
                .case_insensitive(true)
                .build()
                .map_err(|e| Error::Usage(e.to_string()))?;
            return Ok(Filter::Matches(field.trim().to_string(), re));
        }
        if let Some((field, value)) = text.split_once('=') {
            return Ok(Filter::Equals(
                field.trim().trim_end_matches('=').trim().to_string(),
                unquote(value),
            ));
        }
        Err(Error::Usage(format!(
            "unsupported filter {text:?} (supported: name='X', name matches 'X%')"
        )))
    }
    fn matches(&self, member: &Value) -> bool {
        let text = |field: &str| {
            member.get(field).map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
        };
        match self {
            Filter::Equals(field, value) => text(field).as_deref() == Some(value.as_str()),
            Filter::Matches(field, re) => text(field).is_some_and(|t| re.is_match(&t)),
        }
    }
}

/// Fills the bundle listing keys the SDKs read (docs/appliance-api.md §3.1), including both golden
/// image keys.
pub fn bundle_listing(object: &mut Map<String, Value>, bundle: &crate::bundle::Bundle) {
    let plan_scripts: Vec<Value> = bundle.plan_scripts.iter().map(|p| json!({"psID": p.id, "planScriptName": p.name, "description": p.description, "readOnly": bundle.manifest.read_only})).collect();
    let build_plans: Vec<Value> = bundle
        .build_plans
        .iter()
        .map(|p| json!({"bpID": p.id, "buildPlanName": p.name, "planScriptName": p.steps.first().map(|s| s.plan_script_name.clone()), "description": p.description, "readOnly": bundle.manifest.read_only}))
        .collect();
    let deployment_plans: Vec<Value> = bundle
        .deployment_plans
        .iter()
        .map(|p| json!({"dpId": p.id, "deploymentplanName": p.name, "oebpName": p.build_plan, "goldenImageName": p.golden_image_name().unwrap_or(""), "description": p.description, "readOnly": bundle.manifest.read_only}))
        .collect();
    let golden_images: Vec<Value> = bundle.golden_images.iter().map(|g| json!({"giId": g.image.id, "goldenimageName": g.image.name, "description": g.image.description, "readOnly": bundle.manifest.read_only})).collect();
    let count =
        plan_scripts.len() + build_plans.len() + deployment_plans.len() + golden_images.len();
    object.insert("artifactsCount".into(), json!(count));
    object.insert("planScripts".into(), Value::Array(plan_scripts));
    object.insert("buildPlans".into(), Value::Array(build_plans));
    object.insert("deploymentPlans".into(), Value::Array(deployment_plans));
    object.insert("goldenimage".into(), Value::Array(golden_images.clone()));
    object.insert("goldenImages".into(), Value::Array(golden_images));
}

#[cfg(test)]
mod tests {
    use super::*;
    fn members() -> Vec<Value> {
        ["beta", "alpha", "alphabet", "Gamma"]
            .iter()
            .map(|n| json!({"name": n}))
            .collect()
    }
    fn names(v: &Value) -> Vec<String> {
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    }
    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }
    #[test]
    fn filters_exact_and_matches() {
        assert_eq!(
            names(
                &query(
                    &members(),
                    &p(&[("filter", "\"name='alpha'\"")]),
                    PLAN_SCRIPTS
                )
                .unwrap()
            ),
            ["alpha"]
        );
        assert_eq!(
            names(&query(&members(), &p(&[("filter", "name=alpha")]), PLAN_SCRIPTS).unwrap()),
            ["alpha"]
        );
        assert_eq!(
            names(
                &query(
                    &members(),
                    &p(&[("filter", "name matches 'ALPHA%'"), ("sort", "name:desc")]),
                    PLAN_SCRIPTS
                )
                .unwrap()
            ),
            ["alphabet", "alpha"]
        );
    }
    #[test]
    fn pages() {
        let page = query(
            &members(),
            &p(&[("start", "1"), ("count", "2"), ("sort", "name:asc")]),
            PLAN_SCRIPTS,
        )
        .unwrap();
        // Upper case sorts first, as byte order does.
        assert_eq!(names(&page), ["alpha", "alphabet"]);
        assert_eq!(page["total"], 4);
        assert_eq!(
            page["nextPageUri"],
            format!("{PLAN_SCRIPTS}?start=3&count=2&sort=name:asc")
        );
        let last = query(
            &members(),
            &p(&[("start", "3"), ("count", "2")]),
            PLAN_SCRIPTS,
        )
        .unwrap();
        assert!(last["nextPageUri"].is_null());
    }
    #[test]
    fn collection_of_uri() {
        assert_eq!(
            collection_of(&member(PLAN_SCRIPTS, "abc")),
            Some(PLAN_SCRIPTS)
        );
        assert_eq!(collection_of(PLAN_SCRIPTS), None);
    }
}
