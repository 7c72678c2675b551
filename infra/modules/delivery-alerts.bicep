// Alerts on Key Vault event delivery, all to the same action group as the rotation alerts.
//
// Metric alerts on the vault's Event Grid system topic (it may live in another resource group:
// a metric alert's scope is any resource id), one per metric, any non-zero total in 15 minutes:
// - DeliveryAttemptFailCount: a delivery to the function or the queue failed (Event Grid retries);
// - DroppedEventCount: an event was dropped (retries or TTL exhausted and no dead-letter possible);
// - DeadLetteredCount: an event was dead-lettered to `eventgrid-deadletter` (read it, then rerun).
// Metric names and namespace: learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
// microsoft-eventgrid-systemtopics-metrics (Total aggregation, PT1M grain).
// Resource: learn.microsoft.com/azure/templates/microsoft.insights/metricalerts
// (SingleResourceMultipleMetricCriteria, StaticThresholdCriterion).
//
// Poison messages (eventDelivery=storageQueue): Azure Monitor has no per-queue platform metric:
// QueueMessageCount is per account, hourly, without dimensions (learn.microsoft.com/azure/
// azure-monitor/reference/supported-metrics/microsoft-storage-storageaccounts-queueservices-metrics),
// so it cannot tell the poison queue from the events queue. The Functions host instead logs a
// warning when it moves a message to the poison queue, "Message has reached MaxDequeueCount of {n}.
// Moving message to queue '{poison queue}'." (Azure/azure-webjobs-sdk, QueueProcessor.
// CopyMessageToPoisonQueueAsync), which reaches Application Insights as a trace: a log alert
// counts those naming this app's poison queue.

param namePrefix string
param location string
param tags object

@description('Resource id of the vault\'s Event Grid system topic.')
param systemTopicId string

@description('Resource id of the action group to notify.')
param actionGroupId string

@description('Resource id of the Application Insights component (poison alert).')
param applicationInsightsId string

@description('Poison queue of the Key Vault events queue; empty: no poison alert (function delivery).')
param poisonQueueName string = ''

var deliveryMetrics = [
  {
    metric: 'DeliveryAttemptFailCount'
    name: 'delivery-failed'
    severity: 2
    description: 'Event Grid failed to deliver a Key Vault event to rotator (the function endpoint or the keyvault-events queue). It retries; see the topic\'s DeliveryFailures logs for the error.'
  }
  {
    metric: 'DroppedEventCount'
    name: 'event-dropped'
    severity: 1
    description: 'Event Grid dropped a Key Vault event for rotator: it will not arrive. The next scheduled run still catches up; find the cause in the topic\'s DeliveryFailures logs.'
  }
  {
    metric: 'DeadLetteredCount'
    name: 'event-dead-lettered'
    severity: 2
    description: 'A Key Vault event for rotator was dead-lettered to the eventgrid-deadletter container after its retries. The next scheduled run catches up; read the blob for the reason.'
  }
]

resource deliveryAlerts 'Microsoft.Insights/metricAlerts@2018-03-01' = [for m in deliveryMetrics: {
  name: '${namePrefix}-${m.name}'
  location: 'global'
  tags: tags
  properties: {
    description: m.description
    severity: m.severity
    enabled: true
    scopes: [
      systemTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: m.metric
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: m.metric
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroupId
      }
    ]
  }
}]

resource poisonMessage 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = if (!empty(poisonQueueName)) {
  name: '${namePrefix}-poison-message'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'rotator: a Key Vault event was poisoned'
    description: 'The Functions host moved a Key Vault event message to ${poisonQueueName} after five failed attempts. The next scheduled run still rotates; read the message and the function\'s traces for why it failed.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message has "MaxDequeueCount" and message contains "${poisonQueueName}"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroupId
      ]
    }
  }
}
