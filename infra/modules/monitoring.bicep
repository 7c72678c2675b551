// Log Analytics workspace and a workspace-based Application Insights component. The Functions host
// sends the Python worker's log records to Application Insights as `traces`: the message is the
// stable event name (`rotation.run_completed`, ...), the level becomes `severityLevel` and the
// record's extra fields land in `customDimensions`. The alert rules (alerts.bicep) query them.
//
// Properties: learn.microsoft.com/azure/templates/microsoft.operationalinsights/workspaces and
// learn.microsoft.com/azure/templates/microsoft.insights/components (WorkspaceResourceId makes the
// component workspace-based).

param workspaceName string
param applicationInsightsName string
param location string
param tags object

@description('Days the workspace keeps logs (rotation history is also kept in the state store).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
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

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    RetentionInDays: retentionInDays
  }
}

output workspaceId string = workspace.id
output applicationInsightsId string = appInsights.id
output applicationInsightsName string = appInsights.name
