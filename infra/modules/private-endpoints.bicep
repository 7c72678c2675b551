// vnetEnabled=true: private endpoints for the storage account's blob and queue services and for the
// EXISTING Key Vault (possibly in another resource group: the endpoint lives here and points at
// the vault's id), each registered in its private DNS zone through a zone group, so that the usual
// host names (<account>.blob..., <vault>.vault...) resolve to private addresses inside the VNet.
//
// Zones: the ones named in existingPrivateDnsZoneIds (keys blob, queue, vault; a platform team's
// central zones, already linked to its hub), else created here and linked to the VNet. Zone names
// per cloud from environment() (learn.microsoft.com/azure/private-link/private-endpoint-dns:
// privatelink.blob.core.windows.net, privatelink.queue.core.windows.net,
// privatelink.vaultcore.azure.net in the public cloud; the Key Vault zone is the vault DNS suffix
// with vault -> vaultcore, the pattern Microsoft's own templates use, e.g.
// Azure/bicep-registry-modules avm/ptn/network/private-link-private-dns-zones).
// Group ids (sub-resources): blob, queue, vault (same page).
//
// The vault's endpoint is approved automatically only if the deploying principal may approve
// private endpoint connections on the vault (Microsoft.KeyVault/vaults/privateEndpointConnectionsApproval/action,
// e.g. Key Vault Contributor); otherwise it stays Pending until the vault owner approves it
// (learn.microsoft.com/azure/key-vault/general/private-link-service, "manage private link
// connection"). infra/README.md says how.

param namePrefix string
param location string
param tags object

@description('Subnet the private endpoints are placed in (not the delegated app subnet).')
param subnetId string

@description('VNet the created private DNS zones are linked to.')
param vnetId string

param storageAccountId string
param keyVaultId string

@description('Existing private DNS zones by key (blob, queue, vault); a key not given gets a zone created here.')
param existingPrivateDnsZoneIds object = {}

var storageSuffix = environment().suffixes.storage
var endpoints = [
  {
    key: 'blob'
    target: storageAccountId
    zone: 'privatelink.blob.${storageSuffix}'
  }
  {
    key: 'queue'
    target: storageAccountId
    zone: 'privatelink.queue.${storageSuffix}'
  }
  {
    key: 'vault'
    target: keyVaultId
    zone: 'privatelink${replace(environment().suffixes.keyvaultDns, 'vault', 'vaultcore')}'
  }
]

// The zones to create (pycep cannot read a loop with a condition, so the loop runs over a filter).
var zonesToCreate = filter(endpoints, e => !contains(existingPrivateDnsZoneIds, e.key))

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for e in zonesToCreate: {
  name: e.zone
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (e, i) in zonesToCreate: {
  parent: zones[i]
  name: '${namePrefix}-vnet'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for e in endpoints: {
  name: '${namePrefix}-pe-${e.key}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: '${namePrefix}-${e.key}'
        properties: {
          privateLinkServiceId: e.target
          groupIds: [
            e.key
          ]
        }
      }
    ]
  }
}]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (e, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  dependsOn: [
    zones
  ]
  properties: {
    privateDnsZoneConfigs: [
      {
        name: e.key
        properties: {
          privateDnsZoneId: contains(existingPrivateDnsZoneIds, e.key) ? existingPrivateDnsZoneIds[e.key] : resourceId('Microsoft.Network/privateDnsZones', e.zone)
        }
      }
    ]
  }
}]

output privateEndpointNames array = [for (e, i) in endpoints: privateEndpoints[i].name]
