// Grants the Microsoft Graph application permission APIConnectors.ReadWrite.All to the Function's
// managed identity: an app role assignment on the Microsoft Graph service principal of the tenant
// the identity lives in. Only for a workforce / Entra External ID tenant that is also the
// connectors' tenant; an Azure AD B2C tenant is a separate directory where the managed identity
// cannot get a token (see infra/README.md for the app registration that B2C needs instead).
//
// Microsoft Graph Bicep extension (GA July 2025, type version v1.0:1.0.0, Bicep >= 0.36.1):
// learn.microsoft.com/graph/templates/bicep/whats-new; the `microsoftGraphV1` alias is declared in
// infra/bicepconfig.json. Resource reference: learn.microsoft.com/graph/templates/reference/
// approleassignedto (appRoleId, principalId, resourceId) and .../serviceprincipals (look-up of an
// existing service principal by appId). The deploying principal needs AppRoleAssignment.ReadWrite.All
// and Application.Read.All (or a Privileged Role Administrator) in that tenant.
//
// App role id of APIConnectors.ReadWrite.All on Microsoft Graph (appId
// 00000003-0000-0000-c000-000000000000): 1dfe531a-24a6-4f1b-80f4-7a0dc5a0a171
// (learn.microsoft.com/graph/permissions-reference#apiconnectorsreadwriteall).
//
// CI note: checkov's pinned pycep-parser cannot parse the `extension` statement, so scripts/check-infra
// excludes this one file from checkov (checkov has no Microsoft Graph checks anyway) and it is checked
// instead by the pycep-parser 0.7.1 parse step and by tests/infra/test_infra.py.

extension microsoftGraphV1

@description('Principal (object) id of the Function App user-assigned identity.')
param principalId string

var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'
var apiConnectorsReadWriteAll = '1dfe531a-24a6-4f1b-80f4-7a0dc5a0a171'

resource microsoftGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: microsoftGraphAppId
}

resource apiConnectorsGrant 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: apiConnectorsReadWriteAll
  principalId: principalId
  resourceId: microsoftGraph.id
}

output appRoleAssignmentId string = apiConnectorsGrant.id
