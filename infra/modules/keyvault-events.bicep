// The event subscription on the Key Vault's system topic (deployed into the vault's resource
// group): the six certificate / secret events the rotator handles, delivered to the function
// `rotate_on_keyvault_event` with the AzureFunction endpoint type (Event Grid resolves the
// Event Grid trigger's webhook and its system key itself), in the Event Grid schema, one event per
// delivery, with a bounded retry policy and a dead-letter container written with the system
// topic's own managed identity.
//
// Properties: learn.microsoft.com/azure/templates/microsoft.eventgrid/systemtopics/eventsubscriptions
// (destination AzureFunction {resourceId, maxEventsPerBatch, preferredBatchSizeInKilobytes};
// deadLetterWithResourceIdentity {identity, deadLetterDestination StorageBlob}; retryPolicy).
// Event types: learn.microsoft.com/azure/event-grid/event-schema-key-vault. Retry defaults
// (30 attempts, 1440 min) and their limits: learn.microsoft.com/azure/event-grid/delivery-and-retry.
//
// The AzureFunction endpoint is validated when the subscription is created, so the function must
// already exist: deploy the infrastructure, publish the code, then deploy again with
// deployEventSubscription=true (see infra/README.md).

param systemTopicName string

@description('Resource id of the Function App.')
param functionAppId string

@description('Function that receives the events; must be one function_app.py defines.')
param functionName string = 'rotate_on_keyvault_event'

param storageAccountId string
param deadLetterContainerName string

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

resource rotateOnKeyVaultEvent 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'rotator-keyvault-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.CertificateNewVersionCreated'
        'Microsoft.KeyVault.CertificateNearExpiry'
        'Microsoft.KeyVault.CertificateExpired'
        'Microsoft.KeyVault.SecretNewVersionCreated'
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
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
  }
}

output name string = rotateOnKeyVaultEvent.name
