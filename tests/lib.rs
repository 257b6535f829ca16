//! The integration tests: one binary, a module per feature (the file of the same name), and the
//! helpers they share (`common`, `content_support`, `publish_support`).
//!
//! `cargo test` runs the fast set. Tests that launch guestfish, boot a system or build an image
//! are marked `#[ignore = "slow: …"]`; `cargo test --all-targets -- --include-ignored` runs
//! everything (README's test command, what CI runs).

mod common;
mod content_support;
mod fleet_support;
mod publish_support;

mod ansible_fleet;
mod appliance_connect_errors;
mod appliance_sdk_settings;
mod architecture;
mod boot_nspawn;
mod build_cache_lock;
mod build_golden_image;
mod build_import;
mod build_incremental;
mod build_project;
mod build_render;
mod bundle_diff_determinism;
mod bundle_reader;
mod bundle_roundtrip;
mod bundle_variants;
mod cli_grammar;
mod content_build;
mod content_das;
mod content_first_boot;
mod content_guestfish;
mod content_network;
mod content_os_facts;
mod content_regressions;
mod content_render;
mod content_secrets;
mod content_shell;
mod deploy_acceptance;
mod deploy_simulator;
mod diff_entries;
mod host_escape;
mod image_build_debian;
mod image_changes_tar;
mod image_guestfish;
mod image_kickstart;
mod image_pack;
mod image_requirements;
mod image_upload;
mod import_safety;
mod json_reports;
mod lean_install;
mod lint_cli;
mod lint_hudsonalpha;
mod lint_hygiene;
mod lint_rules;
mod network_bounds;
mod project_boundary;
mod prune_versions;
mod publish_acceptance;
mod publish_change_report;
mod publish_download;
mod publish_report_case;
mod readme_tour;
mod release_workflow;
mod report_html;
mod sample_use_cases;
mod simulator_api;
mod status_drift;
