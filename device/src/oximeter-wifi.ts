/// <reference path="../lib/config.ts" />
/// <reference path="../lib/line.ts" />
/// <reference path="../lib/mqtt.ts" />
/// <reference path="../lib/max30102.ts" />
/**
 * Pulse oximeter on a Wi-Fi board (ESP32 / Espruino WiFi): the same
 * MAX30102 readings as oximeter.ts, published over MQTT (QoS 1) to
 * healthchain/<hub>/devices/<device>/readings with the device's own
 * credentials (username = device id, password = device secret).
 */

function hcMain (): void {
  var id = hcConf('device', 'ox-2')
  var dev = hcDevice(id)
  var topic = 'healthchain/' + hcConf('hub', 'hub') + '/devices/' + id + '/readings'
  var client: HcMqtt | null = null
  function startMqtt (): void {
    client = hcMqtt({
      host: hcConf('mqttHost', '192.168.1.10'),
      // mqtts with the hub's CA where the board has TLS (ESP32, Espruino WiFi); see device/README.md
      port: hcConfNumber('mqttPort', hcConf('ca', '') === '' ? 1883 : 8883),
      ca: hcConf('ca', ''),
      clientId: id,
      username: id,
      password: hcConf('secret', ''),
      keepalive: hcConfNumber('keepalive', 30),
      maxBuffer: hcConfNumber('maxBuffer', 300),
      backoffMinMs: 250,
      backoffMaxMs: 30000
    })
  }
  var ssid = hcConf('ssid', '')
  if (ssid === '') startMqtt()
  else {
    require('Wifi').connect(ssid, { password: hcConf('wifiPassword', '') }, function (err) {
      if (err) console.log('Wi-Fi: ' + err)
      startMqtt() // the client keeps retrying until the network is up
    })
  }

  I2C1.setup({ scl: hcConfPin('scl', D22), sda: hcConfPin('sda', D21), bitrate: 400000 })
  hcOximeterRun(hcOximeter(I2C1), function (hr, spo2) {
    if (client === null) return
    hcMqttPublish(client, topic, hcReading(dev, 'hr', hr))
    hcMqttPublish(client, topic, hcReading(dev, 'spo2', spo2))
  })
}

hcMain()
