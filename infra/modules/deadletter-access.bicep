// The role Event Grid needs to dead-letter with the system topic's managed identity: Storage Blob
// Data Contributor (ba92f5b4-2d11-453d-a403-e96b0029c9fe) on the dead-letter container only.
// Event Grid writes undeliverable events as blobs there and needs nothing else on the account.
// learn.microsoft.com/azure/event-grid/add-identity-roles (Blob storage destination: Storage Blob
// Data Contributor) and learn.microsoft.com/azure/event-grid/manage-event-delivery (dead-letter
// with managed identity).

param storageAccountName string
param deadLetterContainerName string

@description('Principal id of the Event Grid system topic (its system-assigned identity).')
param systemTopicPrincipalId string

@description('Create the role assignment (false: main.bicep lists it in roleAssignmentsToGrant).')
param createRoleAssignments bool = true

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource eventGridDeadLetter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (createRoleAssignments) {
  name: guid(deadLetterContainer.id, systemTopicPrincipalId, storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    principalId: systemTopicPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    description: 'Event Grid system topic of the Key Vault: write undeliverable events to the dead-letter container.'
  }
}
