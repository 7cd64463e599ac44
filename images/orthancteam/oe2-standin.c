/*
 * A stand-in for the Orthanc Explorer 2 plugin (libOrthancExplorer2.so), which
 * Debian does not package. It is written against Orthanc's plugin SDK
 * (OrthancCPlugin.h from Debian's orthanc-dev) and reproduces only what the
 * provisioner's tests can observe of the real plugin: it is loaded under the
 * real plugin's name "orthanc-explorer-2" (GET /plugins lists it) and it serves
 * its user interface below /ui/app/ (index.html). It is not the real user interface.
 */
#include <orthanc/OrthancCPlugin.h>
#include <string.h>

static OrthancPluginContext *context = NULL;

static OrthancPluginErrorCode ServeApp(OrthancPluginRestOutput *output,
                                       const char *url,
                                       const OrthancPluginHttpRequest *request)
{
  static const char page[] =
    "<!doctype html><title>Orthanc Explorer 2 (stand-in)</title>"
    "<p>Orthanc Explorer 2 stand-in of pacs-provisioner's test image.</p>\n";
  (void) url;
  if (request->method != OrthancPluginHttpMethod_Get)
  {
    OrthancPluginSendMethodNotAllowed(context, output, "GET");
    return OrthancPluginErrorCode_Success;
  }
  OrthancPluginAnswerBuffer(context, output, page, sizeof(page) - 1, "text/html");
  return OrthancPluginErrorCode_Success;
}

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(OrthancPluginContext *c)
{
  context = c;
  OrthancPluginLogWarning(context, "Orthanc Explorer 2 stand-in is loaded");
  OrthancPluginRegisterRestCallback(context, "/ui/app/.*", ServeApp);
  return 0;
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize(void)
{
}

ORTHANC_PLUGINS_API const char *OrthancPluginGetName(void)
{
  return "orthanc-explorer-2";
}

ORTHANC_PLUGINS_API const char *OrthancPluginGetVersion(void)
{
  return "stand-in";
}
