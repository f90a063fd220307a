//! The YAML loader, the whole validate pipeline, and the generators that merge into a
//! hand-edited object of the stack.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| traffic_engineer_fuzz::checks::yaml_validate(data));
