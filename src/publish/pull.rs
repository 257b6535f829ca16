//! `pull`: download a bundle by exact name, streamed to a temporary file renamed when complete.
use super::inventory::{ARTIFACT_BUNDLES, uri_of};
use crate::appliance::client::{Client, Host};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct PullReport {
    pub name: String,
    pub uri: String,
    pub path: PathBuf,
    pub bytes: u64,
}

pub fn pull(client: &Client, name: &str, out: &Path) -> Result<PullReport> {
    let what = "artifact bundle";
    let bundle =
        crate::appliance::lookup::named(client, Host::ImageStreamer, ARTIFACT_BUNDLES, what, name)?
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no artifact bundle named {name:?} on the appliance"
                ))
            })?;
    let uri = uri_of(&bundle).unwrap_or_default();
    let path = crate::appliance::api::bundle_download(&bundle);
    let mut temp = crate::fs::TempFile::for_target(out)?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, temp.as_file_mut());
    let bytes = client.download(Host::ImageStreamer, &path, &mut writer)?;
    std::io::Write::flush(&mut writer).map_err(|e| Error::io(out, e))?;
    drop(writer);
    temp.persist(out)?;
    Ok(PullReport {
        name: name.to_string(),
        uri,
        path: out.to_path_buf(),
        bytes,
    })
}
