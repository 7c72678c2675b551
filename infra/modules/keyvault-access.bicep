// Deployed into the resource group of the EXISTING Key Vault (RBAC permission model) that holds
// the connectors' certificates and passwords: the Function identity's two read roles on that one
// vault, and the vault's Event Grid system topic.
//
// Role ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles/security and
// learn.microsoft.com/azure/key-vault/general/rbac-guide):
// - Key Vault Secrets User     4633458b-17de-408a-b874-0445c86b69e6: read secret contents. The
//   basic-auth passwords are secrets, and a certificate's private key is read from the secret of
//   the same name and version (application/x-pkcs12 or application/x-pem-file).
// - Key Vault Certificate User db79e9a7-68ee-4b58-9aeb-b90e7c24fcba: read certificates (list the
//   versions with their nbf/exp/created, read the public certificate) through the certificates API.
// Neither role can write, delete or purge anything: the rotator never changes the vault.
//
// With roleScope=objects (or createRoleAssignments=false) the two vault-wide roles are not made
// here: keyvault-object-access.bicep grants them per secret and per certificate instead.
//
// System topic: learn.microsoft.com/azure/templates/microsoft.eventgrid/systemtopics (topicType
// Microsoft.KeyVault.vaults, location of the vault). Its system-assigned identity is what the
// event subscription dead-letters (and, with eventDelivery=storageQueue, delivers) with.
// existingSystemTopic=true reads a topic a platform team made as `existing`: its tags and identity
// are left alone, so it must already have a system-assigned identity
// (`az eventgrid system-topic update --identity systemassigned`), or the deployment fails where
// it reads the principal id.
//
// Diagnostic setting (when a workspace is given): the only resource-log category of a system topic
// is DeliveryFailures (learn.microsoft.com/azure/azure-monitor/reference/supported-logs/
// microsoft-eventgrid-systemtopics-logs; PublishFailures exists for custom topics and domains
// only), plus AllMetrics. An extension resource: it does not change an existing topic.

@description('Name of the existing Key Vault (in this resource group).')
param keyVaultName string

@description('Principal id of the Function App user-assigned identity.')
param functionPrincipalId string

param systemTopicName string

@description('Region of the vault: a system topic lives in its source\'s region. Passed in by main.bicep because a new resource\'s location must be known when the deployment starts, which an existing resource\'s location is not.')
param location string

param tags object

@description('Use the vault\'s existing system topic named systemTopicName as is (no tags, no identity change).')
param existingSystemTopic bool = false

@description('Grant the two read roles on the whole vault (false with roleScope=objects or createRoleAssignments=false).')
param grantVaultRoles bool = true

@description('Log Analytics workspace for the topic\'s DeliveryFailures logs and metrics (empty: no diagnostic setting).')
param workspaceId string = ''

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultCertificateUser = 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantVaultRoles) {
  name: guid(vault.id, functionPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    description: 'rotator Function App: read connector passwords and certificate private keys.'
  }
}

resource certificateUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantVaultRoles) {
  name: guid(vault.id, functionPrincipalId, keyVaultCertificateUser)
  scope: vault
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificateUser)
    description: 'rotator Function App: list and read connector certificate versions.'
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (!existingSystemTopic) {
  name: systemTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource platformSystemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource topicDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(workspaceId)) {
  name: 'rotator-diagnostics'
  scope: platformSystemTopic
  dependsOn: [
    systemTopic
  ]
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'DeliveryFailures'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

// One name for either topic: `platformSystemTopic` is the same resource once `systemTopic` exists.
var topicPrincipalId = existingSystemTopic ? platformSystemTopic.identity.principalId : systemTopic.identity.principalId

output vaultId string = vault.id
output vaultUri string = vault.properties.vaultUri
output systemTopicName string = systemTopicName
output systemTopicId string = platformSystemTopic.id
output systemTopicPrincipalId string = topicPrincipalId
