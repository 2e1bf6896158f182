//! Who is calling: what authentication established about the caller, and
//! what RBAC decides on.

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The RBAC subject: a local user name (`admin`, `alice`), an SSO
    /// user's subject or email, or a project role token's
    /// `proj:<project>:<role>`.
    pub subject: String,
    /// Groups (SSO `groups` claim); RBAC's `g` lines may bind them to roles.
    pub groups: Vec<String>,
    /// How the caller proved it.
    pub kind: PrincipalKind,
    /// The token's id (`jti`), for revocation; `None` for credentials
    /// without one.
    pub token_id: Option<String>,
}

/// Where a principal's credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A local account (`admin` or `accounts.<name>` in `argocd-cm`).
    Local,
    /// Single sign-on through the configured OIDC issuer.
    Sso,
    /// A project role's JWT token (`AppProject.spec.roles[].jwtTokens`).
    ProjectRole,
}
