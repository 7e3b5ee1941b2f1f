//! Namespace URIs and the fixed prefixes we write and use in finding paths.

/// XHE root namespace (`x:`).
pub const XHE: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope";
/// XHE aggregate components (`xha:`).
pub const XHA: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents";
/// XHE basic components (`xhb:`).
pub const XHB: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents";
/// XHE extension components (`ext:`).
pub const EXT: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExtensionComponents";
/// XML-DSig (`ds:`).
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML-Enc (`xenc:`).
pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Schema instance (`xsi:`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// SDK message v3 (`tns:`).
pub const TNS: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3";
/// UBL ApplicationResponse root (`ar:`).
pub const AR: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2";
/// UBL common aggregate components (`cac:`).
pub const CAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
/// UBL common basic components (`cbc:`).
pub const CBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";

/// The prefix used for `uri` in paths (the rule tables' prefixes), if it is one of ours.
pub(crate) fn prefix_of(uri: &str) -> Option<&'static str> {
    Some(match uri {
        XHE => "x",
        XHA => "xha",
        XHB => "xhb",
        EXT => "ext",
        DS => "ds",
        XENC => "xenc",
        XSI => "xsi",
        TNS => "tns",
        AR => "ar",
        CAC => "cac",
        CBC => "cbc",
        _ => return None,
    })
}
