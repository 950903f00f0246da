#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_fuzz::run("http_post", data));
