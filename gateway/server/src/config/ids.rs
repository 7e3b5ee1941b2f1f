//! The one place where configuration strings become identifiers. The types are
//! `sdkgw-schemas`'; this module adapts their errors to finding messages.

pub use sdkgw_schemas::{ApPartyId, Environment, FederationId, FunctionAddress, ParticipantId};

pub(crate) fn environment(s: &str) -> Result<Environment, String> {
    s.parse::<Environment>().map_err(|e| e.to_string())
}

pub(crate) fn federation(s: &str) -> Result<FederationId, String> {
    s.parse::<FederationId>().map_err(|e| e.to_string())
}

pub(crate) fn ap_party(s: &str) -> Result<ApPartyId, String> {
    ApPartyId::parse(s).map_err(|e| e.to_string())
}

pub(crate) fn participant(s: &str) -> Result<ParticipantId, String> {
    ParticipantId::parse(s).map_err(|e| e.to_string())
}

pub(crate) fn function_address(s: &str) -> Result<FunctionAddress, String> {
    FunctionAddress::parse(s).map_err(|e| e.to_string())
}
