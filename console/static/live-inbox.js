// The portal's live inbox: a minimal graphql-transport-ws client on this origin's /graphql.
// The WebSocket is signed in by the session cookie (the server accepts that only from its own
// origin); on each change to a referral received, the inbox list is fetched again through htmx.
// No library: connection_init, subscribe, answer pings, reconnect with a growing pause.
(function () {
  "use strict";
  var QUERY =
    "subscription PortalInbox { referralChanged(filter: {direction: RECEIVED}) " +
    "{ referral { id } } }";
  var pause = 1000;
  var pending = null;

  function refresh() {
    // Several changes in a burst: one fetch.
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      var list = document.getElementById("inbox");
      if (!list || !window.htmx) return;
      window.htmx
        .ajax("GET", window.location.pathname + window.location.search, {
          target: "#inbox",
          select: "#inbox",
          swap: "outerHTML",
        })
        .then(function () {
          document.dispatchEvent(new CustomEvent("portal:inbox-refreshed"));
        });
    }, 200);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/graphql", "graphql-transport-ws");
    socket.addEventListener("open", function () {
      socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
    });
    socket.addEventListener("message", function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (message.type === "connection_ack") {
        pause = 1000;
        socket.send(JSON.stringify({ id: "inbox", type: "subscribe", payload: { query: QUERY } }));
        document.documentElement.dataset.live = "on";
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (message.type === "next" && message.id === "inbox") {
        refresh();
      }
    });
    socket.addEventListener("close", function (event) {
      document.documentElement.dataset.live = "off";
      // 4403: signed out or not allowed; reloading the page shows why. Else try again.
      if (event.code === 4403 || event.code === 4401) return;
      setTimeout(connect, pause);
      pause = Math.min(pause * 2, 30000);
    });
  }

  if (document.getElementById("inbox")) connect();
})();
