// The event subscription on the Key Vault's system topic (deployed into the vault's resource
// group): the six certificate / secret events the rotator handles, delivered to the function
// `rotate_on_keyvault_event` in the Event Grid schema, one event per delivery, with a bounded retry
// policy and a dead-letter container written with the system topic's own managed identity.
//
// Two ways to reach the function (endpointType):
// - AzureFunction (default; Event Grid's recommended type for a function,
//   learn.microsoft.com/azure/event-grid/handler-functions): Event Grid resolves the Event Grid
//   trigger's webhook and its key itself. No source found confirms it for a Flex Consumption app.
// - WebHook: the Event Grid extension's own URL,
//   https://<app host>/runtime/webhooks/eventgrid?functionName=<function>&code=<system key>
//   (learn.microsoft.com/azure/azure-functions/event-grid-how-tos). The system key
//   `eventgrid_extension` is read here with listKeys on the app's host/default keys, so it never
//   passes through a parameter or an output; the Functions host creates it when it first loads the
//   Event Grid extension, i.e. after the code is published and the app has started. Event Grid
//   returns the URL without its query string (endpointBaseUrl) when the subscription is read.
//   ARM's if() evaluates only the chosen branch (learn.microsoft.com/azure/azure-resource-manager/
//   templates/template-functions-logical#if), so in AzureFunction mode no key is read.
//
// Properties: learn.microsoft.com/azure/templates/microsoft.eventgrid/systemtopics/eventsubscriptions
// (destination AzureFunction {resourceId, maxEventsPerBatch, preferredBatchSizeInKilobytes} or
// WebHook {endpointUrl, maxEventsPerBatch, preferredBatchSizeInKilobytes};
// deadLetterWithResourceIdentity {identity, deadLetterDestination StorageBlob}; retryPolicy).
// Event types: learn.microsoft.com/azure/event-grid/event-schema-key-vault. Retry defaults
// (30 attempts, 1440 min) and their limits: learn.microsoft.com/azure/event-grid/delivery-and-retry.
//
// Either endpoint is validated when the subscription is created, so the function (and, for
// WebHook, its system key) must already exist: deploy the infrastructure, publish the code, then
// deploy again with deployEventSubscription=true (see infra/README.md).
//
// - StorageQueue (eventDelivery=storageQueue, always with vnetEnabled): the same events, filter,
//   retry and dead-lettering, delivered to the queue `keyvault-events` WITH THE TOPIC'S
//   SYSTEM-ASSIGNED IDENTITY (deliveryWithResourceIdentity, which replaces `destination`;
//   StorageQueue properties resourceId = the account, queueName, queueMessageTimeToLiveInSeconds:
//   learn.microsoft.com/azure/templates/microsoft.eventgrid/systemtopics/eventsubscriptions and
//   learn.microsoft.com/azure/event-grid/handler-storage-queues). A queue needs no code to exist,
//   so this subscription is created on the first deployment. A firewalled account accepts only
//   the system-assigned identity, through the trusted-services exception (same page).
//   Message encoding: Event Grid writes the event Base64-encoded (MicrosoftDocs/azure-docs#102923,
//   2022; plain text before, #69702), which is the queue trigger's default
//   (host.json extensions.queues.messageEncoding "base64"); not verified here (infra/README.md).

param systemTopicName string

@description('AzureFunction: Event Grid resolves the function by resource id. WebHook: the Event Grid extension URL with its system key. StorageQueue: the queue queueName on storageAccountId, with the topic\'s identity.')
@allowed(['AzureFunction', 'WebHook', 'StorageQueue'])
param endpointType string = 'AzureFunction'

@description('Resource id of the Function App.')
param functionAppId string

@description('Default host name of the Function App (WebHook endpoint only).')
param functionAppHostName string

@description('Function that receives the events; must be one function_app.py defines.')
param functionName string = 'rotate_on_keyvault_event'

param storageAccountId string
param deadLetterContainerName string

@description('Queue the StorageQueue endpoint delivers to.')
param queueName string = 'keyvault-events'

@description('Delivery attempts before an event is dead-lettered (Event Grid allows 1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 10

@description('Minutes an event is retried before it is dead-lettered (Event Grid allows 1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

var azureFunctionDestination = {
  endpointType: 'AzureFunction'
  properties: {
    resourceId: '${functionAppId}/functions/${functionName}'
    maxEventsPerBatch: 1
    preferredBatchSizeInKilobytes: 64
  }
}

var webHookMode = endpointType == 'WebHook'
var queueMode = endpointType == 'StorageQueue'

// Bicep inlines a variable that calls list* where it is used: the key is read only inside the
// WebHook branch below, and passes through no parameter or output.
var eventGridSystemKey = listKeys('${functionAppId}/host/default', '2024-04-01').systemKeys.eventgrid_extension
var webHookDestination = {
  endpointType: 'WebHook'
  properties: {
    endpointUrl: 'https://${functionAppHostName}/runtime/webhooks/eventgrid?functionName=${functionName}&code=${eventGridSystemKey}'
    maxEventsPerBatch: 1
    preferredBatchSizeInKilobytes: 64
  }
}

// What both subscriptions share: the six event types the code handles, the retry policy and
// dead-lettering with the topic's identity.
var handledEventTypes = {
  includedEventTypes: [
    'Microsoft.KeyVault.CertificateNewVersionCreated'
    'Microsoft.KeyVault.CertificateNearExpiry'
    'Microsoft.KeyVault.CertificateExpired'
    'Microsoft.KeyVault.SecretNewVersionCreated'
    'Microsoft.KeyVault.SecretNearExpiry'
    'Microsoft.KeyVault.SecretExpired'
  ]
}
var retryPolicy = {
  maxDeliveryAttempts: maxDeliveryAttempts
  eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
}
var deadLetterWithTopicIdentity = {
  identity: {
    type: 'SystemAssigned'
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: storageAccountId
      blobContainerName: deadLetterContainerName
    }
  }
}

// The destination: the function (AzureFunction or WebHook) or the queue, where Event Grid
// authenticates with the topic's identity (deliveryWithResourceIdentity replaces destination).
// One resource, not two conditional ones with the same name, which ARM refuses or half-ignores
// (Azure/bicep#7561, #11290). ARM's if() evaluates only the branch it takes, so the queue mode
// reads no key either.
var functionDelivery = {
  destination: webHookMode ? webHookDestination : azureFunctionDestination
}
var queueDelivery = {
  deliveryWithResourceIdentity: {
    identity: {
      type: 'SystemAssigned'
    }
    destination: {
      endpointType: 'StorageQueue'
      properties: {
        resourceId: storageAccountId
        queueName: queueName
        // -1: the message never expires in the queue (Event Grid's TTL already bounds delivery)
        queueMessageTimeToLiveInSeconds: -1
      }
    }
  }
}

resource rotateOnKeyVaultEvent 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'rotator-keyvault-events'
  properties: union(queueMode ? queueDelivery : functionDelivery, {
    eventDeliverySchema: 'EventGridSchema'
    filter: handledEventTypes
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetterWithTopicIdentity
  })
}

output name string = rotateOnKeyVaultEvent.name
