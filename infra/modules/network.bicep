// The private network of vnetEnabled=true when no existing subnet is named: one VNet with two
// subnets and one network security group (Azure's default rules only: the VNet talks to itself,
// outbound to the internet is allowed, inbound from the internet is not).
// - `app`: delegated to Microsoft.App/environments, the delegation Flex Consumption VNet
//   integration requires (learn.microsoft.com/azure/azure-functions/flex-consumption-plan#virtual-
//   network-integration; Azure-Samples/functions-quickstart-python-http-azd infra/app/vnet.bicep).
//   Integration is outbound only: nothing reaches the app through this subnet.
// - `private-endpoints`: the blob, queue and Key Vault private endpoints (private-endpoints.bicep).
//   A private endpoint cannot live in a delegated subnet, hence two.
// VNet / subnet properties: learn.microsoft.com/azure/templates/microsoft.network/virtualnetworks.
// Outbound destinations the app needs (Graph, Entra, Azure Monitor, the connectors' APIs) are
// listed in infra/README.md for a firewall team that routes this subnet through its own firewall.

param name string
param location string
param tags object

@description('Address space of the VNet.')
param addressPrefix string

@description('Subnet delegated to Microsoft.App/environments (Flex Consumption VNet integration).')
param appSubnetPrefix string

@description('Subnet of the private endpoints.')
param privateEndpointSubnetPrefix string

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

output id string = vnet.id
output appSubnetId string = '${vnet.id}/subnets/app'
output privateEndpointSubnetId string = '${vnet.id}/subnets/private-endpoints'
