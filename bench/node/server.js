// The node server of the HTTP throughput benchmark: node's own `http`
// module answering every request with a fixed hello-world body, keep-alive.
// Prints the port it listens on (argv[2], 0 for any) once it is ready.
'use strict';
const http = require('http');

const body = 'Hello, world!';
const server = http.createServer((req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/plain',
    'Content-Length': body.length,
  });
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(String(server.address().port));
});
