// roleScope=objects: the Function identity's two read roles on each named Key Vault object instead
// of the whole vault, for a vault shared with other teams. Deployed into the vault's resource group.
//
// Key Vault RBAC accepts role assignments on an individual secret, key or certificate
// (learn.microsoft.com/azure/key-vault/general/rbac-guide, "individual keys, secrets, and
// certificates"; scope `<vault id>/secrets/<name>` or `<vault id>/certificates/<name>`).
// What the rotator reads (rotator/azure/keyvault.py):
// - a password or API key: get_secret and the secret's versions -> Key Vault Secrets User
//   (4633458b-17de-408a-b874-0445c86b69e6) on `secrets/<name>`;
// - a certificate: its versions through the certificates API (list_certificate_versions) -> Key
//   Vault Certificate User (db79e9a7-68ee-4b58-9aeb-b90e7c24fcba) on `certificates/<name>`, AND its
//   private key from the secret of the same name and version (a certificate's key is readable only
//   as that secret: learn.microsoft.com/azure/key-vault/certificates/about-certificates,
//   "Composition of a Certificate"; the rbac-guide's role table: Secrets User "Read secret
//   contents including secret portion of a certificate with private key") -> Secrets User on
//   `secrets/<name>` as well. A role on the
//   certificate does not reach the secret: RBAC inherits down a scope path, and
//   `certificates/<name>` and `secrets/<name>` are siblings.
// `Microsoft.KeyVault/vaults/secrets` is an ARM resource type; certificates are not (Bicep has no
// type for them, warning BCP081), so the certificate scope is an `existing` reference of a type
// without a schema. ARM sends the role assignment to `<scope>/providers/Microsoft.Authorization/
// roleAssignments/<name>` as `az role assignment create --scope` does; whether deployment
// validation accepts it could not be verified here (no Azure, no compiler): infra/README.md says
// what to run if it does not.

@description('Name of the existing Key Vault (in this resource group).')
param keyVaultName string

@description('Principal id of the Function App user-assigned identity.')
param functionPrincipalId string

@description('Secrets the app reads: passwords, API keys, and every certificate (its private key is read as the secret of the same name).')
param secretNames array

@description('Certificates whose versions the app lists.')
param certificateNames array

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultCertificateUser = 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for name in secretNames: {
  parent: vault
  name: name
}]

#disable-next-line BCP081
resource certificates 'Microsoft.KeyVault/vaults/certificates@2023-07-01' existing = [for name in certificateNames: {
  parent: vault
  name: name
}]

resource secretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in secretNames: {
  name: guid(secrets[i].id, functionPrincipalId, keyVaultSecretsUser)
  scope: secrets[i]
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    description: 'rotator Function App: read this secret (a password, or a certificate\'s private key).'
  }
}]

resource certificateUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in certificateNames: {
  name: guid(certificates[i].id, functionPrincipalId, keyVaultCertificateUser)
  scope: certificates[i]
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificateUser)
    description: 'rotator Function App: list and read this certificate\'s versions.'
  }
}]
