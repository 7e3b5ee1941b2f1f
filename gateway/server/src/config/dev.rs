//! The configuration `sdkgw pki init` writes for each organisation of the development PKI:
//! environment `dev`, the organisation's own keys, the PKI's CAs as trust anchors, loopback
//! listeners on the ports the PKI planned, and the PKI's local SMP URL.

use sdkgw_certs::devpki::OrgConfigInput;

/// Renders the `sdkgw.toml` of one organisation (paths relative to that file).
pub fn render(input: &OrgConfigInput<'_>) -> String {
    let org = input.entry;
    let ca = &input.manifest.ca;
    let crls = &input.manifest.crls;
    let r = |p: &str| format!("{}/{p}", input.root_from_config);
    let domain = org
        .participant
        .split_once(':')
        .map_or(org.participant.as_str(), |(_, d)| d);
    format!(
        r#"# sdkgw configuration for {participant} in the development PKI (made by `sdkgw pki init`).
# Check it with: sdkgw config check {config_name}
# `sdkgw config example` prints every key with its documentation.

# Store, payload files and audit log (relative to this file).
data_dir = "data"

[environment]
name = "dev"

[ap]
party_id = "{party}"

[[participants]]
id = "{participant}"
mailboxes = [{{ address = "{domain}-inbox", name = "Inbox of {domain}" }}]

[keys.ap]
cert = "{ap_cert}"
key = "{ap_key}"

[keys.o2o.signing]
cert = "{o2o_sign_cert}"
key = "{o2o_sign_key}"

[keys.o2o.encryption]
cert = "{o2o_enc_cert}"
key = "{o2o_enc_key}"

[keys.tls.server]
cert = "{tls_server_cert}"
key = "{tls_server_key}"

[keys.tls.client]
cert = "{tls_client_cert}"
key = "{tls_client_key}"

[trust.as4]
anchors = ["{ap_root}"]
issuing_ca = "{ap_intermediate}"
crls = ["{crl_ap_root}", "{crl_ap_intermediate}"]
# Another environment's AP CA: its certificates are refused as "wrong environment" (TF-03).
foreign_anchors = ["{foreign_ap_ca}"]

[trust.smp]
anchors = ["{smp_ca}"]
crls = ["{crl_smp_ca}"]

[trust.tls]
anchors = ["{tls_root}"]
intermediates = ["{tls_intermediate}"]
crls = ["{crl_tls_root}", "{crl_tls_intermediate}"]

[trust.o2o]
anchors = ["{o2o_root}"]
intermediates = ["{o2o_intermediate}"]
crls = ["{crl_o2o_root}", "{crl_o2o_intermediate}"]

[listeners.as4]
bind = "{as4_bind}"
public_url = "{as4_url}"

[listeners.api]
bind = "{api_bind}"

[listeners.admin]
bind = "{admin_bind}"

[address_book]
source = "smp"
url = "{smp_url}"

# The local SMP serves HTTPS with the PKI's smp/tls-server certificate.
[address_book.http]
tls_anchors = ["{tls_root}"]
"#,
        participant = org.participant,
        config_name = org.config,
        party = org.ap_party_id,
        ap_cert = file_name(&org.ap.cert),
        ap_key = file_name(&org.ap.key),
        o2o_sign_cert = file_name(&org.o2o_signing.cert),
        o2o_sign_key = file_name(&org.o2o_signing.key),
        o2o_enc_cert = file_name(&org.o2o_encryption.cert),
        o2o_enc_key = file_name(&org.o2o_encryption.key),
        tls_server_cert = file_name(&org.tls_server.cert),
        tls_server_key = file_name(&org.tls_server.key),
        tls_client_cert = file_name(&org.tls_client.cert),
        tls_client_key = file_name(&org.tls_client.key),
        ap_root = r(&ca.ap_root),
        ap_intermediate = r(&ca.ap_intermediate),
        crl_ap_root = r(&crls.ap_root),
        crl_ap_intermediate = r(&crls.ap_intermediate),
        crl_smp_ca = r(&crls.smp_ca),
        crl_tls_root = r(&crls.tls_root),
        crl_tls_intermediate = r(&crls.tls_intermediate),
        crl_o2o_root = r(&crls.o2o_root),
        crl_o2o_intermediate = r(&crls.o2o_intermediate),
        smp_ca = r(&ca.smp_ca),
        tls_root = r(&ca.tls_root),
        tls_intermediate = r(&ca.tls_intermediate),
        o2o_root = r(&ca.o2o_root),
        o2o_intermediate = r(&ca.o2o_intermediate),
        foreign_ap_ca = r(&ca.foreign_ap_ca),
        as4_bind = input.as4_bind,
        as4_url = org.as4_url,
        api_bind = input.api_bind,
        admin_bind = input.admin_bind,
        smp_url = input.smp_url,
    )
}

/// The organisation's own files sit next to its configuration.
fn file_name(manifest_path: &str) -> &str {
    manifest_path.rsplit('/').next().unwrap_or(manifest_path)
}
