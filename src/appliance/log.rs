//! Verbose logging of the conversation with the appliance, on stderr, secrets redacted.
//! Level 0: warnings only; 1 (-v): one line per request; 2 (-vv): plus headers; 3 (-vvv): plus bodies.
use super::secret::redact_json;

#[derive(Debug, Clone, Copy, Default)]
pub struct Log {
    pub level: u8,
}

impl Log {
    pub fn new(level: u8) -> Self {
        Log { level }
    }
    pub fn warn(&self, message: &str) {
        crate::terminal::warn(message);
    }
    pub fn at(&self, level: u8, message: impl FnOnce() -> String) {
        if self.level >= level {
            eprintln!("{}", message());
        }
    }
    /// A request or response body: redacted JSON, or its size when it is not JSON.
    pub fn body(&self, direction: &str, bytes: &[u8]) {
        if self.level < 3 || bytes.is_empty() {
            return;
        }
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(json) => {
                let mut text = redact_json(&json).to_string();
                if text.len() > 4000 {
                    let mut cut = 4000;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                    text.push('…');
                }
                eprintln!("  {direction} body: {text}");
            }
            Err(_) => eprintln!(
                "  {direction} body: {} bytes (not JSON, not shown)",
                bytes.len()
            ),
        }
    }
}
