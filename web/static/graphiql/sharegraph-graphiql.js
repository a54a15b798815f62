// Starts GraphiQL on /graphql. Kept out of the page so its Content-Security-Policy can forbid
// inline scripts; the page passes its settings in a JSON data block.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("sharegraph-graphiql-config").textContent);
  var endpoint = new URL(config.endpoint, window.location.href);
  var subscriptions = new URL(endpoint.href);
  subscriptions.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    // Subscriptions go over graphql-ws on the same path; the headers travel as its
    // connection parameters. Nothing opens a socket until a subscription is run.
    subscriptionUrl: subscriptions.href,
  });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      headers: config.headers,
      defaultQuery: config.defaultQuery,
      defaultEditorToolsVisibility: "headers",
      shouldPersistHeaders: false,
    })
  );
})();
