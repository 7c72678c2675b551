// Key Vault events through a Storage queue (eventDelivery=storageQueue, always with vnetEnabled):
// the vault's system topic delivers each event to the queue `keyvault-events` with its own
// system-assigned identity (only then the topic's sender role, `topicDelivers`), and the Function App's queue trigger (connection
// "KeyVaultEventsQueue", identity-based) reads it. A message the trigger fails on five times is
// moved by the Functions host to `keyvault-events-poison` (the `<queue>-poison` convention,
// learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages);
// both queues are created here so that neither depends on the host creating it. The queues, the
// app's role and its connection exist on the functionWebhook route too (then the queue stays
// empty): the trigger is indexed whatever the route, and a queue trigger without its connection
// is an indexing error even when the function is disabled (Azure/azure-functions-host#6885);
// without the role its listener's polls would log 403s.
//
// Roles (learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage):
// - system topic identity: Storage Queue Data Message Sender (c6a89b2d-59bc-44d0-9896-0f6e12d7b80a)
//   on the `keyvault-events` queue only: what Event Grid needs to deliver to a queue with a managed
//   identity (learn.microsoft.com/azure/event-grid/add-identity-roles, "Storage Queue: Storage
//   Queue Data Message Sender").
// - Function identity: Storage Queue Data Contributor (974c5e8b-45b9-4653-ba55-5f855dd0fb88) on the
//   account. The queue trigger page lists Storage Queue Data Reader + Message Processor, but those
//   cannot put a failed message back with a new visibility timeout (Update Message,
//   MicrosoftDocs/azure-docs#120932) nor add it to the poison queue (the host copies it there and
//   creates the queue if missing: Azure/azure-webjobs-sdk QueueProcessor.CopyMessageToPoisonQueueAsync).
//   Contributor covers read, update, delete, add and create. On the account, not per queue,
//   because the host addresses the poison queue by name at run time.

param storageAccountName string

@description('Queue the system topic delivers Key Vault events to; the queue trigger reads it.')
param queueName string

@description('Principal id of the vault\'s Event Grid system topic (its system-assigned identity).')
param systemTopicPrincipalId string

@description('Principal id of the Function App user-assigned identity.')
param functionPrincipalId string

@description('The system topic delivers to the queue (eventDelivery storageQueue): grant it Message Sender.')
param topicDelivers bool = true

@description('Create the two role assignments (false: main.bicep lists them in roleAssignmentsToGrant).')
param createRoleAssignments bool = true

var storageQueueDataMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource eventsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: queueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${queueName}-poison'
}

resource topicMessageSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (createRoleAssignments && topicDelivers) {
  name: guid(eventsQueue.id, systemTopicPrincipalId, storageQueueDataMessageSender)
  scope: eventsQueue
  properties: {
    principalId: systemTopicPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSender)
    description: 'Event Grid system topic of the Key Vault: deliver Key Vault events to the rotator queue.'
  }
}

resource functionQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (createRoleAssignments) {
  name: guid(account.id, functionPrincipalId, storageQueueDataContributor)
  scope: account
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    description: 'rotator Function App: read Key Vault events from the queue, release failed ones, move poison messages.'
  }
}

output queueName string = eventsQueue.name
output poisonQueueName string = poisonQueue.name
output queueId string = eventsQueue.id
