// ReDoc over this server's own schema, with no fonts or logos fetched from elsewhere.
window.addEventListener("load", function () {
  "use strict";
  Redoc.init("/openapi.json", { hideDownloadButton: false, disableSearch: false },
             document.getElementById("redoc"));
});
