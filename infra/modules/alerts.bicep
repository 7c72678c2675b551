// Alerts on what the rotator logs to Application Insights (rotator/events.py). Each log record's
// message starts with a stable event name followed by its data as key=JSON pairs, for example
//   rotation.target_completed connectorId="signup-api" kind="certificate" outcome="failed" ...
// because the Azure Functions Python worker ships only the message text to the host; the same
// data is also attached as extra={"rotator": {...}}, which reaches `customDimensions` only where
// the logging pipeline keeps structure (OpenTelemetry). The level becomes `severityLevel`
// (3 = Error). The events alerted on:
// - rotation.target_completed  one per target; outcome "failed" at ERROR, "refused" at WARNING
// - rotation.run_completed     one per run; ERROR when any target failed or was refused
// - rotation.expiry_warning    the newest credential expires soon and Key Vault holds nothing newer
// - rotation.expired           the credential has expired and Key Vault holds nothing newer
// - rotation.identity_*        rotator's own Graph credential (keep-alive): a key added or removed
//                              on the app, its expiry near, or stranded (identity_keep_alive ERROR)
// Each query takes the event name as the message's first word, so a longer name that merely
// starts the same way never matches.
//
// Log alerts v2: learn.microsoft.com/azure/templates/microsoft.insights/2021-08-01/scheduledqueryrules
// (kind LogAlert; criteria.allOf[] {query, timeAggregation Count, operator, threshold,
// failingPeriods}; windowSize / evaluationFrequency ISO 8601; scopes = the Application Insights
// component, whose `traces` table the queries read). A Count rule without dimensions also fires
// on zero rows, which is how the "no completed run" rule detects silence.
// Action group: learn.microsoft.com/azure/templates/microsoft.insights/actiongroups.

param namePrefix string
param location string
param tags object

@description('Resource id of the Application Insights component the queries run against.')
param applicationInsightsId string

@description('E-mail addresses that receive the alerts.')
@minLength(1)
param alertEmails array

@description('Hours between two scheduled runs (ROTATOR_SCHEDULE). The "no run" alert fires after two periods without a completed run.')
@minValue(1)
@maxValue(24)
param schedulePeriodHours int = 6

@description('Resource id of an existing action group to notify instead of creating one (alertEmails is then unused).')
param existingActionGroupId string = ''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (empty(existingActionGroupId)) {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'rotator'
    enabled: true
    emailReceivers: [
      for (email, i) in alertEmails: {
        name: 'email-${i}'
        emailAddress: email
        useCommonAlertSchema: true
      }
    ]
  }
}

var notifiedActionGroupId = empty(existingActionGroupId) ? actionGroup.id : existingActionGroupId

// (1) A rotation failed or was refused: the run summary at Error, or a target whose outcome is
// failed/refused (read from the message, or from customDimensions where it is kept).
resource rotationFailed 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = {
  name: '${namePrefix}-rotation-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'rotator: a credential rotation failed'
    description: 'A rotator run completed with errors (rotation.run_completed at Error) or a target ended failed/refused (rotation.target_completed). Check the run\'s traces for the connector, the Key Vault object and the Graph request id.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '''
traces
| extend event = tostring(split(message, " ")[0])
| where event in ("rotation.run_completed", "rotation.target_completed")
| extend rotator = parse_json(tostring(customDimensions.rotator))
| extend outcome = coalesce(extract(@' outcome="([a-z_-]+)"', 1, message), tostring(rotator.outcome))
| where (event == "rotation.run_completed" and severityLevel >= 3)
    or (event == "rotation.target_completed" and outcome in ("failed", "refused"))
'''
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
        notifiedActionGroupId
      ]
    }
  }
}

// (2) A credential is about to expire (or has expired) and Key Vault holds nothing newer to rotate
// to: someone has to put a new version into Key Vault.
resource credentialExpiring 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = {
  name: '${namePrefix}-credential-expiring'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'rotator: a connector credential is expiring or expired'
    description: 'The rotator logged rotation.expiry_warning or rotation.expired (a connector credential), or rotation.identity_expiry_warning (its own Graph app certificate): the newest credential in Key Vault is near or past its expiry and there is nothing newer to rotate to. Add a new certificate or secret version to Key Vault.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: '''
traces
| extend event = tostring(split(message, " ")[0])
| where event in ("rotation.expiry_warning", "rotation.expired", "rotation.identity_expiry_warning")
'''
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
        notifiedActionGroupId
      ]
    }
  }
}

// (4) rotator changed its own Graph app registration (keep-alive added or removed a key), or can
// no longer keep it alive (rotation.identity_keep_alive at Error: stranded or failed). Changes to
// an app's credentials deserve a human's eye even when they are expected.
resource identityCredential 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = {
  name: '${namePrefix}-identity-credential'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'rotator: its own Graph credential changed or cannot be kept alive'
    description: 'The rotator added or removed a certificate on its Graph app registration (rotation.identity_key_added / rotation.identity_key_removed), or could not keep its credential alive (rotation.identity_keep_alive at Error: read the detail, it names the certificate to upload and the app).'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: '''
traces
| extend event = tostring(split(message, " ")[0])
| where event in ("rotation.identity_key_added", "rotation.identity_key_removed")
    or (event == "rotation.identity_keep_alive" and severityLevel >= 3)
'''
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
        notifiedActionGroupId
      ]
    }
  }
}

// (3) The job died: no rotation.run_completed at all for two schedule periods.
resource noCompletedRun 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = {
  name: '${namePrefix}-no-completed-run'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'rotator: no completed run'
    description: 'No rotation.run_completed was logged for two schedule periods: the timer is not firing, the app does not start, or logging is broken.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1H'
    // Log alerts accept only some windows (5 min ... 6 h, 1 day, 2 days): two schedule periods
    // when that is one of them, else the next longer one (1 day for the default 6 h).
    windowSize: schedulePeriodHours <= 3 ? 'PT${2 * schedulePeriodHours}H' : (schedulePeriodHours <= 12 ? 'P1D' : 'P2D')
    criteria: {
      allOf: [
        {
          query: '''
traces
| extend event = tostring(split(message, " ")[0])
| where event == "rotation.run_completed"
'''
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
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
        notifiedActionGroupId
      ]
    }
  }
}

output actionGroupId string = notifiedActionGroupId
