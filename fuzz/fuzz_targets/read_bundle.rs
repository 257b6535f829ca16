//! The bundle reader on arbitrary bytes: it may reject, it must never panic. Whatever it
//! accepts must also survive verify, inspect, diff and a rewrite.
#![no_main]
use i3s_bundle::bundle::{ReadOptions, diff, inspect, read, verify, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ReadOptions { max_entry_size: 1 << 20, max_payload_size: 1 << 22, max_entries: 1000, hash_payloads: true };
    let path = std::path::Path::new("fuzz.zip");
    if let Ok(loaded) = read::read_bundle_from(std::io::Cursor::new(data), path, &options) {
        let _ = verify::verify(&loaded);
        let _ = inspect::inspect(&loaded).to_string();
        let _ = diff::diff(&loaded.bundle, &loaded.bundle).to_string();
        // Payloads point at a zip on disk that does not exist here; the rewrite may fail, not panic.
        let _ = write::write_bundle_to(&loaded.bundle, Vec::new());
    }
});
