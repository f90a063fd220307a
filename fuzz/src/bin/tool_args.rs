//! Tool argument decoding for every tool (first byte selects the tool, the rest is JSON), then
//! the generator on an empty and on a full stack.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| traffic_engineer_fuzz::checks::tool_args(data));
