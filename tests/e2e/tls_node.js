// tls_node.js - the Node.js HTTPS peers of test_tls_node_e2e.sh (issue 17):
// Node's TLS runs OpenSSL over memory BIOs (libuv does the socket I/O).
//   node tls_node.js server HOST PORT CERT KEY   answers "node says PATH"
//   node tls_node.js client URL...               GETs each URL in turn over
//       one keep-alive agent (http: URLs in cleartext, without one);
//       prints "STATUS BODY" per URL
//   node tls_node.js parallel URL...             the same, all at once, each
//       over a connection of its own
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server') {
	const [host, port, cert, key] = args;
	const srv = https.createServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)}, (req, res) => {
		req.resume();
		req.on('end', () => res.end('node says ' + req.url + '\n'));
	});
	srv.listen(Number(port), host, () => console.log('listening'));
} else if (mode === 'client' || mode === 'parallel') {
	const par = mode === 'parallel';
	const agent = new https.Agent({keepAlive: true, maxSockets: par ? args.length : 1});
	const get = (url) => new Promise((resolve, reject) => {
		const plain = url.startsWith('http:');
		(plain ? http : https).get(url, plain ? {} : {agent, rejectUnauthorized: false}, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (d) => { body += d; });
			res.on('end', () => resolve(res.statusCode + ' ' + body.split('\n')[0]));
		}).on('error', reject);
	});
	(async () => {
		if (par)
			(await Promise.all(args.map(get))).forEach((r) => console.log(r));
		else
			for (const url of args)
				console.log(await get(url));
		agent.destroy();
	})().catch((e) => { console.error(e.message); process.exit(1); });
} else {
	console.error('usage: tls_node.js server HOST PORT CERT KEY | client URL... | parallel URL...');
	process.exit(2);
}
