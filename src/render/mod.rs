//! Rendering: the minijinja environment over `templates/` (front matter, strict undefined,
//! errors with template file/line/column), deploy-time attribute derivation from `@NAME@`
//! placeholders, and render-to-files from a plan script's `upload` here-documents.
//!
//! Build-time values are minijinja (`{{ os.root_lv }}`); deploy-time values are appliance
//! placeholders (`@SERVER_FQDN@`) that templates write literally — minijinja leaves `@` alone.
pub mod attributes;
pub mod files;
pub mod template;
pub mod values;

pub use attributes::{Derivation, ScriptOrigin, StepUse, derive_attributes};
pub use files::{FilesPlan, extract_files, write_files};
pub use template::{FrontMatter, ParamSpec, RenderedTemplate, Renderer, TemplateStore};
pub use values::attribute_values;
