//! Any text given as a config file, with any `--set` overrides, is either a valid config or a
//! one-line error; the parser never panics, and a valid config survives a round trip.
//!
//! Input layout: the config text, then optionally a line `---` followed by one override per line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnlab_config::RunConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (config, overrides) = text.split_once("\n---\n").unwrap_or((text, ""));
    let overrides: Vec<String> = overrides.lines().map(str::to_string).collect();
    match RunConfig::parse(config, "fuzz.toml", &overrides) {
        Ok(c) => {
            let again = RunConfig::parse(&c.to_toml(), "again", &[]).expect("a valid config round-trips");
            assert_eq!(c, again);
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "one line: {e}"),
    }
});
