// Log Analytics workspace and a workspace-based Application Insights component. The Functions host
// sends the Python worker's log records to Application Insights as `traces`: the message is the
// stable event name (`rotation.run_completed`, ...), the level becomes `severityLevel` and the
// record's extra fields land in `customDimensions`. The alert rules (alerts.bicep) query them.
//
// Properties: learn.microsoft.com/azure/templates/microsoft.operationalinsights/workspaces and
// learn.microsoft.com/azure/templates/microsoft.insights/components (WorkspaceResourceId makes the
// component workspace-based).
//
// Telemetry is accepted only from Microsoft Entra identities (DisableLocalAuth: the instrumentation
// key in the connection string no longer suffices), as in Azure-Samples/
// functions-quickstart-python-http-azd. As in Azure/azure-quickstart-templates
// function-app-flex-managed-identities, the Function's identity holds Monitoring Metrics Publisher
// on this component and function-app.bicep sets APPLICATIONINSIGHTS_AUTHENTICATION_STRING to
// `ClientId=<identity>;Authorization=AAD`. learn.microsoft.com/azure/azure-monitor/app/
// azure-ad-authentication (the role "publishes all telemetry", despite its name). The alert rules
// query the workspace through Azure Resource Manager and are not affected.

param workspaceName string
param applicationInsightsName string
param location string
param tags object

@description('Principal id of the Function App user-assigned identity (it publishes the telemetry).')
param functionPrincipalId string

@description('Resource id of an existing Log Analytics workspace to use instead of creating one.')
param existingWorkspaceId string = ''

@description('Create the telemetry role (false: main.bicep lists it in roleAssignmentsToGrant).')
param createRoleAssignments bool = true

@description('Days the workspace keeps logs (rotation history is also kept in the state store).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = if (empty(existingWorkspaceId)) {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

var logAnalyticsWorkspaceId = empty(existingWorkspaceId) ? workspace.id : existingWorkspaceId

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalyticsWorkspaceId
    IngestionMode: 'LogAnalytics'
    RetentionInDays: retentionInDays
    DisableLocalAuth: true
  }
}

// Monitoring Metrics Publisher (3913510d-42f4-4e42-8a64-420c390055eb), learn.microsoft.com/azure/
// role-based-access-control/built-in-roles/monitor#monitoring-metrics-publisher: Entra-authenticated
// ingestion of the app's telemetry, on this component only.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource functionTelemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (createRoleAssignments) {
  name: guid(appInsights.id, functionPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    description: 'rotator Function App: send telemetry to Application Insights with Microsoft Entra ID (local auth is off).'
  }
}

output workspaceId string = logAnalyticsWorkspaceId
output applicationInsightsId string = appInsights.id
output applicationInsightsName string = appInsights.name
