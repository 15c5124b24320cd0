"""Long-running processes above the services: the chain watcher, with the settler and the refund checks it
runs after each tick (`tillpoint watch`). They read the chain through app.chain and own their transactions
through app.services."""
