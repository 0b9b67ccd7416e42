// Command apiextensions-apiserver for SpeechBatch tests.
//
// This is upstream k8s.io/apiextensions-apiserver's main (cmd/server.Run), built against
// Debian's golang-k8s-apiextensions-apiserver-dev sources, with one difference: the upstream
// standalone server is meant to sit behind kube-apiserver's aggregator, which serves /apis and
// the OpenAPI specs; alone it serves neither, so kubectl cannot find or validate any resource.
// Two changes make it usable alone:
//   - /apis is served: EnableDiscovery is turned back on, and the groups of established CRDs
//     are added to the unaggregated /apis list (the aggregated list already gets them from the
//     CRD discovery controller);
//   - an OpenAPI v2 config is set next to upstream's v3 one, which is what starts the CRD
//     OpenAPI controllers, so /openapi/v2 and /openapi/v3 describe the custom resources.
//
// Everything else (flags, storage, validation, subresources, apply, watch) is upstream.
package main

import (
	"context"
	"os"
	"sort"
	"sync"

	"github.com/spf13/cobra"

	apiextensionshelpers "k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	generatedopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/version"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/cli"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	o := options.NewCustomResourceDefinitionsServerOptions(os.Stdout, os.Stderr)
	cmd := &cobra.Command{
		Use:   "apiextensions-apiserver",
		Short: "Launch an API extensions API server (with /apis discovery)",
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return o.ServerRunOptions.ComponentGlobalsRegistry.Set()
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return run(c.Context(), o)
		},
	}
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}

func run(ctx context.Context, o *options.CustomResourceDefinitionsServerOptions) error {
	config, err := o.Config()
	if err != nil {
		return err
	}
	// Upstream sets only the OpenAPI v3 config, and then starts neither CRD OpenAPI controller
	// (they need the v2 spec too), so kubectl's schema download finds no CR types.
	config.GenericConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(
		openapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(generatedopenapi.GetOpenAPIDefinitions),
		openapinamer.NewDefinitionNamer(apiserver.Scheme, scheme.Scheme))
	completed := config.Complete()
	completed.GenericConfig.EnableDiscovery = true
	server, err := completed.New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	addCRDGroupsToDiscovery(server)
	return server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}

// addCRDGroupsToDiscovery keeps the unaggregated /apis group list in step with the served
// versions of established CRDs (what kube-apiserver's aggregator does via APIServices).
func addCRDGroupsToDiscovery(server *apiserver.CustomResourceDefinitions) {
	informer := server.Informers.Apiextensions().V1().CustomResourceDefinitions()
	lister := informer.Lister()
	manager := server.GenericAPIServer.DiscoveryGroupManager
	var mu sync.Mutex
	current := map[string]bool{}
	resync := func() {
		mu.Lock()
		defer mu.Unlock()
		crds, err := lister.List(labels.Everything())
		if err != nil {
			return
		}
		versions := map[string]map[string]bool{}
		for _, crd := range crds {
			if !apiextensionshelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) {
				continue
			}
			for _, v := range crd.Spec.Versions {
				if !v.Served {
					continue
				}
				if versions[crd.Spec.Group] == nil {
					versions[crd.Spec.Group] = map[string]bool{}
				}
				versions[crd.Spec.Group][v.Name] = true
			}
		}
		next := map[string]bool{}
		for group, set := range versions {
			names := make([]string, 0, len(set))
			for v := range set {
				names = append(names, v)
			}
			sort.Slice(names, func(i, j int) bool {
				return version.CompareKubeAwareVersionStrings(names[i], names[j]) > 0
			})
			apiGroup := metav1.APIGroup{Name: group}
			for _, v := range names {
				apiGroup.Versions = append(apiGroup.Versions, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
			}
			apiGroup.PreferredVersion = apiGroup.Versions[0]
			manager.AddGroup(apiGroup)
			next[group] = true
		}
		for group := range current {
			if !next[group] {
				manager.RemoveGroup(group)
			}
		}
		current = next
	}
	informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { resync() },
		UpdateFunc: func(interface{}, interface{}) { resync() },
		DeleteFunc: func(interface{}) { resync() },
	})
}
