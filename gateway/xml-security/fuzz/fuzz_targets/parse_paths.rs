//! Differential: the parser's usual-token paths (one-pass start tags, plain text, end tags)
//! and its general path build the same tree, or fail with the same error, on any input,
//! with the default limits and with small ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdkgw_xml_security::xml::{Limits, ParseOptions, parse_outcome};

fuzz_target!(|data: &[u8]| {
    let small = ParseOptions {
        limits: Limits {
            max_attributes: 3,
            max_namespace_declarations: 2,
            max_total_namespace_declarations: 6,
            max_attribute_len: 16,
            max_text_len: 32,
            max_depth: 6,
            max_nodes: 64,
            ..Limits::SMALL
        },
        ..ParseOptions::default()
    };
    for options in [ParseOptions::default(), small] {
        let usual = parse_outcome(data, &options, true);
        let general = parse_outcome(data, &options, false);
        assert_eq!(usual, general);
    }
});
